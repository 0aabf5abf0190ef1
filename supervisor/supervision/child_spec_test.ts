import assert from "node:assert/strict";
import { ChildSpecError, parseChildSpecs } from "./child_spec.ts";

const command = { executable: "/bin/true", args: [] };

Deno.test("parseChildSpecs() fills in the defaults of a minimal spec", () => {
  const [spec] = parseChildSpecs([{ name: "raft-1", command: { executable: "/bin/true" } }]);
  assert.deepEqual(spec, {
    name: "raft-1",
    command: { executable: "/bin/true", args: [] },
    env: {},
    ports: {},
    dependsOn: [],
    readiness: { kind: "none" },
    restart: "permanent",
    shutdownGraceMs: 10_000,
    intensity: { maxRestarts: 5, withinMs: 60_000 },
    backoff: { initialMs: 200, maxMs: 10_000, multiplier: 2, jitter: 0.2, resetAfterMs: 10_000 },
  });
});

Deno.test("parseChildSpecs() defaults an HTTP probe's path to /readyz", () => {
  const [spec] = parseChildSpecs([{ name: "a", command, readiness: { kind: "http", port: 8080 } }]);
  assert.deepEqual(spec!.readiness, { kind: "http", port: 8080, path: "/readyz" });
});

Deno.test("parseChildSpecs() rejects a bad field, naming the child and the path", () => {
  assert.throws(
    () => parseChildSpecs([{ name: "a", command, restart: "sometimes" }]),
    (error: unknown) =>
      error instanceof ChildSpecError && /^Invalid child spec "a" at restart: /.test(error.message),
  );
  assert.throws(
    () => parseChildSpecs([{ name: "Raft 1", command }]),
    /Invalid child spec "Raft 1" at name/,
  );
});

Deno.test("parseChildSpecs() rejects a dependency on an unknown child, naming it", () => {
  assert.throws(
    () => parseChildSpecs([{ name: "a", command, dependsOn: ["brokr"] }]),
    /^ChildSpecError: Unknown dependency "brokr" of "a": expected one of a$/,
  );
});

Deno.test("parseChildSpecs() rejects duplicate names and dependency cycles", () => {
  assert.throws(
    () => parseChildSpecs([{ name: "a", command }, { name: "a", command }]),
    /Duplicate/,
  );
  assert.throws(
    () =>
      parseChildSpecs([
        { name: "a", command, dependsOn: ["b"] },
        { name: "b", command, dependsOn: ["a"] },
      ]),
    /Dependency cycle among a, b/,
  );
});
