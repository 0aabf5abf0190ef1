import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { RaftEnvelope } from "@trading/proto/raft";
import { encodeGrpcFrame, grpcFrame, GrpcFrameDecoder } from "./grpc_wire.ts";

const bytes = (n: number, seed: number) =>
  Uint8Array.from({ length: n }, (_, i) => (i * seed) % 256);

Deno.test("GrpcFrameDecoder returns the same messages however the stream is cut into chunks", () => {
  const messages = [bytes(0, 1), bytes(1, 3), bytes(300, 7), bytes(70_000, 11), bytes(5, 13)];
  const stream = Buffer.concat(messages.map(grpcFrame));
  for (const size of [1, 2, 5, 6, 7, 64, 1000, 65_536, stream.length]) {
    const decoder = new GrpcFrameDecoder(1 << 20);
    const got: Uint8Array[] = [];
    for (let at = 0; at < stream.length; at += size) {
      got.push(...decoder.push(stream.subarray(at, at + size)));
    }
    assert.equal(decoder.partial, false, `chunks of ${size}`);
    assert.deepEqual(
      got.map((m) => Buffer.from(m).toString("hex")),
      messages.map((m) => Buffer.from(m).toString("hex")),
      `chunks of ${size}`,
    );
  }
});

Deno.test("GrpcFrameDecoder keeps a partial message until its last byte arrives", () => {
  const decoder = new GrpcFrameDecoder(1 << 20);
  const frame = grpcFrame(bytes(10, 5));
  assert.deepEqual(decoder.push(frame.subarray(0, 12)), []);
  assert.equal(decoder.partial, true);
  assert.equal(decoder.push(frame.subarray(12)).length, 1);
  assert.equal(decoder.partial, false);
});

Deno.test("GrpcFrameDecoder refuses a compressed message and one above its limit", () => {
  const compressed = grpcFrame(bytes(3, 1));
  compressed[0] = 1;
  assert.throws(
    () => new GrpcFrameDecoder(100).push(compressed),
    /expected an uncompressed message/,
  );
  assert.throws(
    () => new GrpcFrameDecoder(100).push(grpcFrame(bytes(101, 1))),
    /expected at most 100/,
  );
});

Deno.test("encodeGrpcFrame() writes the frame header and the message in one buffer", () => {
  const envelope = {
    message: {
      $case: "timeoutNow" as const,
      timeoutNow: { from: "a", to: "b", term: 7 },
    },
  };
  const frame = encodeGrpcFrame(envelope, RaftEnvelope.encode);
  const plain = RaftEnvelope.encode(envelope).finish();
  assert.equal(frame[0], 0);
  assert.equal(frame.readUInt32BE(1), plain.length);
  assert.deepEqual(new Uint8Array(frame.subarray(5)), plain);
  const [decoded] = new GrpcFrameDecoder(1 << 20).push(frame);
  assert.deepEqual(RaftEnvelope.decode(decoded!), RaftEnvelope.decode(plain));
});
