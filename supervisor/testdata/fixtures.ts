/**
 * Helpers for the supervisor's tests: child specs that run testdata/fixture_child.ts.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import type { ChildSpecInput } from "../supervision/child_spec.ts";
import type { ChildStatus } from "../supervision/supervisor.ts";
import { isAlive } from "../supervision/process_info.ts";
import { freePort } from "@trading/testing";

/** Absolute path of the fixture child program. */
export const FIXTURE_CHILD = fileURLToPath(new URL("./fixture_child.ts", import.meta.url));

/** A spec running the fixture child named `name` with `flags`, fast backoff by default. */
export function fixtureSpec(
  name: string,
  flags: string[] = [],
  overrides: Partial<ChildSpecInput> = {},
): ChildSpecInput {
  return {
    name,
    command: {
      executable: Deno.execPath(),
      args: ["run", "-A", "--no-lock", FIXTURE_CHILD, "--name", name, ...flags],
    },
    shutdownGraceMs: 2000,
    backoff: { initialMs: 100, maxMs: 2000, jitter: 0.2 },
    ...overrides,
  };
}

/**
 * Like {@linkcode fixtureSpec}, with an HTTP readiness probe on a free port: `running` then
 * means the program is up and has installed its signal handlers.
 */
export function probedFixtureSpec(
  name: string,
  flags: string[] = [],
  overrides: Partial<ChildSpecInput> = {},
): ChildSpecInput {
  const port = freePort();
  return fixtureSpec(name, [...flags, "--http-port", String(port)], {
    readiness: { kind: "http", port },
    ...overrides,
  });
}

/** The status of `name` in a status list; throws when absent. */
export function childOf(children: readonly ChildStatus[], name: string): ChildStatus {
  const child = children.find((c) => c.name === name);
  if (!child) throw new Error(`No child "${name}" in status`);
  return child;
}

/** The pids of `pids` that are still alive (zombies count as gone). */
export function alivePids(pids: readonly number[]): number[] {
  return pids.filter((pid) => isAlive(pid));
}
