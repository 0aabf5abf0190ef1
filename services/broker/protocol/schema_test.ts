import assert from "node:assert/strict";
import { ApiKey, APIS } from "./messages.ts";
import {
  type Decoded,
  decodeMessage,
  type Encodable,
  encodeMessage,
  field,
  message,
  structs,
} from "./schema.ts";
import { DecodeError, Reader, Writer } from "./wire.ts";

const sample = message("Sample", "2+", [
  f32("id"),
  field("name", "string", "0+", { nullable: "1+" }),
  structs("items", "0+", [f32("n"), field("data", "bytes")]),
  field("extra", "int64", "1+", { default: -1 }),
  field("note", "string", "2+", { tag: 0, nullable: "2+" }),
]);

function f32(name: string) {
  return field(name, "int32");
}

function roundTrip(version: number, value: object): Record<string, unknown> {
  const w = new Writer(4);
  encodeMessage(sample, w, value, version);
  const r = new Reader(w.finish().slice());
  const decoded = decodeMessage(sample, r, version);
  assert.equal(r.remaining, 0, "every byte consumed");
  return decoded;
}

Deno.test("encodeMessage() and decodeMessage() round-trip classic and flexible versions", () => {
  const value = {
    id: 7,
    name: "héllo",
    items: [{ n: 1, data: new Uint8Array([1, 2, 3]) }, { n: 2, data: new Uint8Array(0) }],
    extra: 2 ** 40 + 5,
    note: "tagged",
  };
  for (const version of [0, 1, 2]) {
    const decoded = roundTrip(version, value);
    assert.equal(decoded.id, 7);
    assert.equal(decoded.name, "héllo");
    assert.deepEqual((decoded.items as { data: Uint8Array }[])[0]!.data, new Uint8Array([1, 2, 3]));
    assert.equal(decoded.extra, version >= 1 ? 2 ** 40 + 5 : -1);
    assert.equal(decoded.note, version >= 2 ? "tagged" : null);
  }
});

Deno.test("decodeMessage() skips unknown tagged fields of flexible versions", () => {
  const w = new Writer();
  w.int32(1).compactNullableString("x").uvarint(1); // id, name, empty items
  w.int64(3);
  w.uvarint(2).uvarint(9).uvarint(3).raw(new Uint8Array([1, 2, 3])).uvarint(0).uvarint(2)
    .compactString("y");
  const decoded = decodeMessage(sample, new Reader(w.finish().slice()), 2);
  assert.equal(decoded.note, "y");
});

Deno.test("decodeMessage() throws DecodeError on truncated input", () => {
  const w = new Writer();
  encodeMessage(sample, w, { id: 1, name: "abc", items: [] }, 1);
  const bytes = w.finish().slice();
  for (let cut = 0; cut < bytes.length; cut++) {
    assert.throws(() => decodeMessage(sample, new Reader(bytes.subarray(0, cut)), 1), DecodeError);
  }
});

Deno.test("Writer varints match the protocol's zig-zag and unsigned encodings", () => {
  const w = new Writer();
  w.varint(0).varint(-1).varint(1).varint(-64).varint(300).uvarint(300);
  assert.deepEqual([...w.finish()], [0, 1, 2, 127, 0xd8, 0x04, 0xac, 0x02]);
  const r = new Reader(w.finish().slice());
  assert.deepEqual([r.varint(), r.varint(), r.varint(), r.varint(), r.varint(), r.uvarint()], [
    0,
    -1,
    1,
    -64,
    300,
    300,
  ]);
});

Deno.test("every API advertises Produce from v0 and Fetch from v4, and serves ApiVersions v3", () => {
  assert.equal(APIS.get(ApiKey.Produce)!.minVersion, 0);
  assert.equal(APIS.get(ApiKey.Fetch)!.minVersion, 4);
  assert.equal(APIS.get(ApiKey.ApiVersions)!.maxVersion, 3);
});

Deno.test("Encodable<schema> lets a handler leave out only the fields with a default or a tag", () => {
  const schema = message("Typed", "none", [
    field("id", "int32"),
    field("extra", "int64", "0+", { default: -1 }),
    structs("items", "0+", [field("n", "int32"), field("flag", "bool", "0+", { default: true })]),
  ]);
  const body: Encodable<typeof schema> = { id: 7, items: [{ n: 1 }] };
  // @ts-expect-error: `id` declares no default, so a handler must give it.
  const missing: Encodable<typeof schema> = { items: [] };
  // @ts-expect-error: `n` in a struct declares no default either.
  const missingNested: Encodable<typeof schema> = { id: 1, items: [{ flag: false }] };
  // @ts-expect-error: a field's value must have its schema's type.
  const wrongType: Encodable<typeof schema> = { id: "7", items: [] };
  assert.ok(missing && missingNested && wrongType);
  const w = new Writer();
  encodeMessage(schema, w, body, 0);
  const decoded: Decoded<typeof schema> = decodeMessage(schema, new Reader(w.finish().slice()), 0);
  assert.deepEqual(decoded, { id: 7, extra: -1, items: [{ n: 1, flag: true }] });
});
