import assert from "node:assert/strict";
import { crc32c } from "./crc32c.ts";

Deno.test("crc32c() matches the Castagnoli check value of '123456789'", () => {
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
});

Deno.test("crc32c() of a range equals the CRC of the same bytes copied out, at every alignment", () => {
  const bytes = new Uint8Array(1000).map((_, i) => (i * 131 + 7) & 0xff);
  for (let start = 0; start < 12; start++) {
    for (const end of [start, start + 1, start + 7, start + 8, start + 9, 1000]) {
      assert.equal(
        crc32c(bytes, start, end),
        crc32c(bytes.slice(start, end)),
        `range ${start}-${end}`,
      );
    }
  }
});

Deno.test("crc32c() continues a checksum across chunks", () => {
  const bytes = new Uint8Array(4096).map((_, i) => (i * 17) & 0xff);
  const whole = crc32c(bytes);
  assert.equal(crc32c(bytes, 1000, 4096, crc32c(bytes, 0, 1000)), whole);
});
