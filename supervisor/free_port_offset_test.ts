import assert from "node:assert/strict";
import { freePortOffset } from "./free_port_offset.ts";
import { DEFAULT_PORTS } from "./pipeline_specs.ts";

Deno.test("freePortOffset() returns an offset at which every pipeline port and the extra ones are free", () => {
  const offset = freePortOffset([8090]);
  assert.ok(offset >= 1000 && offset < 15_000, String(offset));
  const ports = [...Object.values(DEFAULT_PORTS).flatMap((p) => Object.values(p)), 8090];
  const listeners = ports.map((port) =>
    Deno.listen({ hostname: "127.0.0.1", port: port + offset })
  );
  for (const listener of listeners) listener.close();
  assert.equal(listeners.length, 18);
});
