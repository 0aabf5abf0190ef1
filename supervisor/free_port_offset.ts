/**
 * A port offset for a whole pipeline beside others on one machine: the supervisor's
 * `SUPERVISOR_PORT_OFFSET` moves every default port of docs/DESIGN.md by it.
 *
 * @module
 */
import { DEFAULT_PORTS } from "./pipeline_specs.ts";

/**
 * Returns an offset in [1000, 15000) at which every port of the pipeline, and every port of
 * `extraPorts` (for example the supervisor's 8090), was free a moment ago.
 */
export function freePortOffset(extraPorts: readonly number[] = []): number {
  const ports = [
    ...Object.values(DEFAULT_PORTS).flatMap((p) => Object.values(p) as number[]),
    ...extraPorts,
  ];
  for (let attempt = 0; attempt < 100; attempt++) {
    const offset = 1000 + Math.floor(Math.random() * 14_000);
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
