/**
 * A port offset for a whole pipeline beside others on one machine: the supervisor's
 * `SUPERVISOR_PORT_OFFSET` moves every default port of docs/DESIGN.md by it.
 *
 * A port inside the kernel's ephemeral range can be taken by any outgoing connection between
 * the check that it is free and the child's bind (EADDRINUSE, CI run f1). The default ports
 * span 7000-50072, and the gRPC ones sit inside Linux's default ephemeral range (32768-60999)
 * at any small offset, so the offset is chosen to move every port out of it when some offset
 * can: with Linux's default range, 10949-15463 puts the gRPC ports above 60999 and the others
 * below 32768.
 *
 * @module
 */
import { DEFAULT_PORTS } from "./pipeline_specs.ts";

/** The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`), Linux's default if unknown. */
export function ephemeralPortRange(): { from: number; to: number } {
  try {
    const text = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range");
    const [from, to] = text.trim().split(/\s+/).map(Number);
    if (Number.isInteger(from) && Number.isInteger(to) && from! > 1024 && to! >= from!) {
      return { from: from!, to: to! };
    }
  } catch { /* not Linux, or no /proc */ }
  return { from: 32768, to: 60999 };
}

/** The offsets `SUPERVISOR_PORT_OFFSET` accepts (supervisor_config.ts). */
const OFFSETS = { from: 1000, to: 15463 };

/**
 * The offsets in [1000, 15463] at which no port of `ports` is in the ephemeral range `range`,
 * as an interval, or undefined when there are none.
 */
export function offsetsOutsideEphemeral(
  ports: readonly number[],
  range: { from: number; to: number },
): { from: number; to: number } | undefined {
  const low = Math.min(...ports);
  const high = Math.max(...ports);
  // Either every port lands below the range, or every port lands above it, or the range lies
  // between two ports: the last needs one offset per gap, so only the first two are tried,
  // then the gaps between consecutive ports.
  const candidates: Array<{ from: number; to: number }> = [
    { from: OFFSETS.from, to: range.from - 1 - high },
    { from: range.to + 1 - low, to: 65535 - high },
  ];
  const sorted = [...new Set(ports)].sort((a, b) => a - b);
  for (let i = 0; i + 1 < sorted.length; i++) {
    // Ports up to sorted[i] below the range, from sorted[i + 1] above it.
    candidates.push({
      from: range.to + 1 - sorted[i + 1]!,
      to: Math.min(range.from - 1 - sorted[i]!, 65535 - high),
    });
  }
  for (const c of candidates) {
    const from = Math.max(c.from, OFFSETS.from);
    const to = Math.min(c.to, OFFSETS.to);
    if (from <= to) return { from, to };
  }
  return undefined;
}

/**
 * Returns an offset in [1000, 15463] at which every port of the pipeline, and every port of
 * `extraPorts` (for example the supervisor's 8090), was free a moment ago; outside the
 * ephemeral range when some offset allows it.
 */
export function freePortOffset(extraPorts: readonly number[] = []): number {
  const ports = [
    ...Object.values(DEFAULT_PORTS).flatMap((p) => Object.values(p) as number[]),
    ...extraPorts,
  ];
  const window = offsetsOutsideEphemeral(ports, ephemeralPortRange()) ??
    { from: OFFSETS.from, to: 15_000 };
  for (let attempt = 0; attempt < 100; attempt++) {
    const offset = window.from + Math.floor(Math.random() * (window.to - window.from + 1));
    const listeners: Deno.Listener[] = [];
    try {
      for (const port of ports) {
        listeners.push(Deno.listen({ hostname: "127.0.0.1", port: port + offset }));
      }
      return offset;
    } catch {
      // Taken: try another offset.
    } finally {
      for (const listener of listeners) listener.close();
    }
  }
  throw new Error("No free port offset found: expected one within 100 attempts");
}
