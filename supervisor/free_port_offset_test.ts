import assert from "node:assert/strict";
import { ephemeralPortRange, freePortOffset, offsetsOutsideEphemeral } from "./free_port_offset.ts";
import { DEFAULT_PORTS } from "./pipeline_specs.ts";

const PORTS = [...Object.values(DEFAULT_PORTS).flatMap((p) => Object.values(p) as number[]), 8090];

Deno.test("freePortOffset() returns an offset at which every pipeline port and the extra ones are free, none of them ephemeral", () => {
  const offset = freePortOffset([8090]);
  assert.ok(offset >= 1000 && offset <= 15_463, String(offset));
  const listeners = PORTS.map((port) =>
    Deno.listen({ hostname: "127.0.0.1", port: port + offset })
  );
  for (const listener of listeners) listener.close();
  assert.equal(listeners.length, 18);
  const range = ephemeralPortRange();
  if (offsetsOutsideEphemeral(PORTS, range) !== undefined) {
    const inside = PORTS.map((p) => p + offset).filter((p) => p >= range.from && p <= range.to);
    assert.deepEqual(inside, [], `offset ${offset}, ephemeral ${range.from}-${range.to}`);
  }
});

Deno.test("offsetsOutsideEphemeral() moves the default ports out of Linux's default range, or says it cannot", () => {
  // 7000-9644 stay below 32768 and 50051-50072 go above 60999.
  assert.deepEqual(offsetsOutsideEphemeral(PORTS, { from: 32768, to: 60999 }), {
    from: 10949,
    to: 15463,
  });
  // All ports below a high range.
  assert.deepEqual(offsetsOutsideEphemeral(PORTS, { from: 61000, to: 65535 }), {
    from: 1000,
    to: 61000 - 1 - 50072,
  });
  // A range that covers every offset's ports.
  assert.equal(offsetsOutsideEphemeral(PORTS, { from: 1025, to: 65535 }), undefined);
});
