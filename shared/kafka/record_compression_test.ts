import assert from "node:assert/strict";
import fc from "fast-check";
// @ts-types="./types/snappyjs.d.ts"
import SnappyJS from "snappyjs";
import {
  codecOf,
  compress,
  type CompressionCodec,
  decompress,
  DecompressionError,
} from "./record_compression.ts";

const CODECS = ["gzip", "snappy", "lz4", "zstd"] as const;
const seed = Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 2 ** 31);
const numRuns = Number(Deno.env.get("FUZZ_RUNS") ?? 200);
// Printed up front, not only on a failure: a decoder that loops forever never fails.
console.error(
  `record_compression_test: FUZZ_SEED=${seed} deno test -A shared/kafka/record_compression_test.ts replays this run`,
);

/** Runs a property, printing the command that replays a failure. */
function check<T>(name: string, property: fc.IProperty<T>): void {
  try {
    fc.assert(property, { seed, numRuns });
  } catch (error) {
    console.error(
      `${name} failed; replay: FUZZ_SEED=${seed} deno test -A shared/kafka/record_compression_test.ts`,
    );
    throw error;
  }
}

/** Text-like bytes that compress, or random ones that do not. */
const payloads = fc.oneof(
  fc.uint8Array({ maxLength: 3000 }),
  fc.array(fc.constantFrom(..."abc order tick AAPL 1234 ".split("")), { maxLength: 5000 })
    .map((chars) => new TextEncoder().encode(chars.join(""))),
);

Deno.test("codecOf() knows codec ids 0-4 and nothing above", () => {
  assert.deepEqual([0, 1, 2, 3, 4].map(codecOf), ["none", "gzip", "snappy", "lz4", "zstd"]);
  assert.deepEqual([5, 6, 7].map(codecOf), [undefined, undefined, undefined]);
});

for (const codec of CODECS) {
  Deno.test(`decompress() returns what compress() was given, ${codec}`, () => {
    check(
      `${codec} round trip`,
      fc.property(payloads, (data) => {
        assert.deepEqual(decompress(codec, compress(codec, data), data.length), data);
      }),
    );
  });

  Deno.test(`decompress() stops at the cap on a ${codec} bomb`, () => {
    const bomb = compress(codec, new Uint8Array(64 * 1024 * 1024));
    assert.ok(bomb.length < 4 * 1024 * 1024, `${codec} bomb is ${bomb.length} bytes`);
    assert.throws(
      () => decompress(codec, bomb, 1024 * 1024),
      (error) => error instanceof DecompressionError && error.tooLarge,
    );
  });

  Deno.test(`decompress() of random bytes as ${codec} throws DecompressionError or stays in the cap`, () => {
    check(
      `${codec} garbage`,
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (garbage, prefixed) => {
        // Half the inputs start like a real stream, so the decoders get past the header.
        const data = prefixed
          ? Uint8Array.from([...compress(codec, garbage).subarray(0, 12), ...garbage])
          : garbage;
        try {
          assert.ok(decompress(codec, data, 10_000).length <= 10_000);
        } catch (error) {
          assert.ok(error instanceof DecompressionError, `${codec}: ${error}`);
        }
      }),
    );
  });
}

Deno.test("decompress() reads a raw snappy block as librdkafka writes it", () => {
  const data = new TextEncoder().encode("raw raw raw raw snappy ".repeat(50));
  assert.deepEqual(decompress("snappy", SnappyJS.compress(data), data.length), data);
});

Deno.test("decompress() refuses an lz4 match that reaches before the output", () => {
  // Frame: magic, FLG (version 1, independent blocks), BD (64 KiB), header checksum, then a
  // block whose first sequence has 1 literal and a match at offset 9.
  const block = [0x14, 0x41, 0x09, 0x00];
  const frame = Uint8Array.from([
    0x04,
    0x22,
    0x4d,
    0x18,
    0x60,
    0x40,
    0x82,
    block.length,
    0,
    0,
    0,
    ...block,
    0,
    0,
    0,
    0,
  ]);
  assert.throws(
    () => decompress("lz4" satisfies CompressionCodec, frame, 1000),
    (error) => error instanceof DecompressionError && !error.tooLarge,
  );
});

/**
 * Runs `decompress(codec, data, maxBytes)` in a worker and tells how it ended within
 * `timeoutMs`: "threw DecompressionError", "returned N bytes", or "hung" (the worker is
 * terminated), so that a decoder that loops forever fails the test instead of stalling it.
 */
async function decompressInWorker(
  codec: CompressionCodec,
  data: Uint8Array,
  maxBytes: number,
  timeoutMs = 5000,
): Promise<string> {
  const source = `
    import { decompress, DecompressionError } from ${
    JSON.stringify(new URL("./record_compression.ts", import.meta.url).href)
  };
    self.onmessage = ({ data: { codec, data, maxBytes } }) => {
      try {
        self.postMessage("returned " + decompress(codec, data, maxBytes).length + " bytes");
      } catch (error) {
        self.postMessage(error instanceof DecompressionError ? "threw DecompressionError" : "threw " + error);
      }
    };`;
  const url = URL.createObjectURL(new Blob([source], { type: "application/typescript" }));
  const worker = new Worker(url, { type: "module" });
  try {
    return await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve("hung"), timeoutMs);
      worker.onmessage = (event) => {
        clearTimeout(timer);
        resolve(String(event.data));
      };
      worker.postMessage({ codec, data, maxBytes });
    });
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
  }
}

Deno.test("decompress() refuses a snappy literal with a negative 32-bit length instead of looping forever", async () => {
  // Declared length 10; a literal whose length is in 4 bytes (tag 0xfc), 0xfffffff0: as a
  // signed int in snappyjs it moves the read position backwards, for ever.
  const block = Uint8Array.from([10, 0xfc, 0xf0, 0xff, 0xff, 0xff, 1, 2, 3]);
  assert.equal(await decompressInWorker("snappy", block, 10_000), "threw DecompressionError");
  // The same in xerial framing.
  const framed = Uint8Array.from([
    ...compress("snappy", new Uint8Array(1)).subarray(0, 16),
    0,
    0,
    0,
    block.length,
    ...block,
  ]);
  assert.equal(await decompressInWorker("snappy", framed, 10_000), "threw DecompressionError");
});

Deno.test("decompress() refuses a snappy block that yields less or more than it declares", () => {
  const good = SnappyJS.compress(new TextEncoder().encode("abcdefgh"));
  assert.equal(good[0], 8);
  for (const declared of [7, 9]) {
    const lying = Uint8Array.from([declared, ...good.subarray(1)]);
    assert.throws(
      () => decompress("snappy", lying, 100),
      (error) => error instanceof DecompressionError && /declared/.test(error.message),
    );
  }
});
