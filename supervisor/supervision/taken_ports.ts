/**
 * The supervisor's pre-flight check: every port its children will listen on must be free
 * before the first child starts. Otherwise every child of a second pipeline on the same
 * ports dies of "address in use" and is restarted until its restart intensity gives up,
 * which says nothing of the cause.
 *
 * @module
 */
import type { ChildSpecInput } from "./child_spec.ts";

/** A port that a child will need and something else holds now. */
export interface TakenPort {
  readonly child: string;
  /** The port's name in the child spec (`kafka`, `grpc`, `http`, `raft`). */
  readonly name: string;
  readonly port: number;
}

/** Returns the ports of `specs` that cannot be bound on 127.0.0.1 right now. */
export function takenPorts(specs: readonly ChildSpecInput[]): TakenPort[] {
  const taken: TakenPort[] = [];
  for (const spec of specs) {
    for (const [name, port] of Object.entries(spec.ports ?? {})) {
      try {
        Deno.listen({ hostname: "127.0.0.1", port }).close();
      } catch (error) {
        if (!(error instanceof Deno.errors.AddrInUse)) throw error;
        taken.push({ child: spec.name, name, port });
      }
    }
  }
  return taken;
}

/** One line naming the taken ports and what to do about them. */
export function describeTakenPorts(taken: readonly TakenPort[]): string {
  const list = taken.map((t) => `${t.port} (${t.child} ${t.name})`).join(", ");
  return `Ports in use: ${list}: expected them free (another pipeline running? stop it, or set ` +
    `SUPERVISOR_PORT_OFFSET to move every child's ports)`;
}
