/**
 * Free TCP ports on 127.0.0.1 for servers under test (port 0 where the server can take it).
 *
 * A port the kernel picks for port 0 comes from the ephemeral range, the same range every
 * outgoing connection on the machine takes its local port from: between our check and the
 * server's bind, any client (a Kafka client, a gRPC channel) may take it, and the server then
 * fails with EADDRINUSE. So ports are drawn at random from below the ephemeral range, where only
 * an explicit bind can take them, and a port is never handed out twice by one process.
 *
 * @module
 */
import { ephemeralPortRange } from "@trading/supervisor/free-port-offset";

const handedOut = new Set<number>();

const RANGE = { from: 10_000, to: Math.max(10_001, ephemeralPortRange().from - 1) };

function bindable(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

/** Returns a TCP port on 127.0.0.1 that was free a moment ago and not handed out before. */
export function freePort(): number {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = RANGE.from + Math.floor(Math.random() * (RANGE.to - RANGE.from + 1));
    if (handedOut.has(port) || !bindable(port)) continue;
    handedOut.add(port);
    return port;
  }
  // The range is crowded: let the kernel pick.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  handedOut.add(port);
  return port;
}

/** Returns `count` distinct free ports. */
export function freePorts(count: number): number[] {
  return Array.from({ length: count }, () => freePort());
}
