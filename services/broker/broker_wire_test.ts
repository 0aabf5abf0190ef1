/**
 * Wire-level behaviour with hand-built frames: idempotent retries, unsupported APIs and
 * versions, flexible versions, and bad input (malformed, truncated, oversized, fuzzed) that
 * closes only the offending connection.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ErrorCode } from "./protocol/error_codes.ts";
import { ApiKey, APIS, type ApiSpec } from "./protocol/messages.ts";
import * as M from "./protocol/messages.ts";
import { buildRecordBatch } from "./protocol/record_batch.ts";
import { RawKafkaClient, type RequestBody } from "@trading/testing/raw-kafka-client";
import { parseRequestHeader } from "./handle_request.ts";
import { decodeMessage } from "./protocol/schema.ts";
import { DecodeError, Reader } from "./protocol/wire.ts";
import { withBroker } from "@trading/testing/with-broker";

const encoder = new TextEncoder();

function produceBody(topic: string, records: Uint8Array, acks = -1) {
  return {
    transactionalId: null,
    acks,
    timeoutMs: 5000,
    topics: [{ name: topic, partitions: [{ index: 0, records }] }],
  };
}

async function metadataWorks(client: RawKafkaClient): Promise<void> {
  const metadata = await client.request(M.metadata, 1, { topics: null });
  assert.equal(metadata.brokers.length, 1);
}

Deno.test("a retried produce batch with the same producer id, epoch and sequence is acknowledged once and stored once", async () => {
  await withBroker({ createTopics: [{ name: "idem", partitions: 1 }] }, async (broker) => {
    const client = await RawKafkaClient.connect(broker.address);
    try {
      const init = await client.request(M.initProducerId, 1, {
        transactionalId: null,
        transactionTimeoutMs: 60_000,
      });
      assert.equal(init.errorCode, 0);
      const producer = {
        producerId: init.producerId,
        producerEpoch: init.producerEpoch,
        baseSequence: 0,
      };
      const first = buildRecordBatch([{ value: encoder.encode("a") }, {
        value: encoder.encode("b"),
      }], producer);
      const retry = first.slice(); // The same bytes, as a client resends after a lost response.
      const r1 = await client.request(M.produce, 7, produceBody("idem", first));
      const r2 = await client.request(M.produce, 7, produceBody("idem", retry));
      assert.equal(r1.responses[0]!.partitions[0]!.errorCode, 0);
      assert.equal(r2.responses[0]!.partitions[0]!.errorCode, 0);
      assert.equal(
        r2.responses[0]!.partitions[0]!.baseOffset,
        r1.responses[0]!.partitions[0]!.baseOffset,
      );
      assert.equal(broker.topics.get("idem", 0)!.highWatermark, 2);
      const next = buildRecordBatch([{ value: encoder.encode("c") }], {
        ...producer,
        baseSequence: 2,
      });
      const r3 = await client.request(M.produce, 7, produceBody("idem", next));
      assert.equal(r3.responses[0]!.partitions[0]!.baseOffset, 2);
      const gap = buildRecordBatch([{ value: encoder.encode("d") }], {
        ...producer,
        baseSequence: 9,
      });
      const r4 = await client.request(M.produce, 7, produceBody("idem", gap));
      assert.equal(
        r4.responses[0]!.partitions[0]!.errorCode,
        ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
      );
      assert.equal(broker.topics.get("idem", 0)!.highWatermark, 3);
    } finally {
      client.close();
    }
  });
});

Deno.test("an unsupported API key or version gets UNSUPPORTED_VERSION and the connection keeps working", async () => {
  await withBroker({}, async (broker) => {
    const client = await RawKafkaClient.connect(broker.address);
    try {
      // ApiVersions v9: answered as v0 with the error and our versions (KIP-511 behaviour).
      const w = client.encodeRequest(M.apiVersions, 0, {}, 77);
      new DataView(w.buffer).setInt16(6, 9);
      await client.send(w);
      const versions = client.decodeResponse(M.apiVersions, 0, (await client.readFrame())!);
      assert.equal(versions.correlationId, 77);
      assert.equal(versions.body.errorCode, ErrorCode.UNSUPPORTED_VERSION);
      assert.ok(
        versions.body.apiKeys.some((k) => k.apiKey === ApiKey.Produce && k.minVersion === 0),
      );
      // Metadata v42 and an unknown API key 999: error 35 as the body.
      for (const [key, version] of [[ApiKey.Metadata, 42], [999, 0]] as const) {
        const frame = client.encodeRequest(M.metadata, 1, { topics: null }, 5);
        new DataView(frame.buffer).setInt16(4, key);
        new DataView(frame.buffer).setInt16(6, version);
        await client.send(frame);
        const answer = (await client.readFrame())!;
        const view = new DataView(answer.buffer, answer.byteOffset);
        assert.equal(view.getInt32(0), 5);
        assert.equal(view.getInt16(4), ErrorCode.UNSUPPORTED_VERSION);
      }
      await metadataWorks(client);
    } finally {
      client.close();
    }
  });
});

Deno.test("flexible versions round-trip through the broker (ApiVersions v3, Metadata v9, CreateTopics v5)", async () => {
  await withBroker({}, async (broker) => {
    const client = await RawKafkaClient.connect(broker.address);
    try {
      const versions = await client.request(M.apiVersions, 3, {
        clientSoftwareName: "test",
        clientSoftwareVersion: "1",
      });
      assert.equal(versions.apiKeys.length, APIS.size);
      const created = await client.request(M.createTopics, 5, {
        topics: [{
          name: "flex",
          numPartitions: 2,
          replicationFactor: 1,
          assignments: [],
          configs: [],
        }],
        timeoutMs: 1000,
      });
      assert.equal(created.topics[0]!.errorCode, 0);
      assert.equal(created.topics[0]!.numPartitions, 2);
      const metadata = await client.request(M.metadata, 9, {
        topics: [{ name: "flex" }],
      });
      assert.equal(metadata.topics[0]!.partitions.length, 2);
      assert.equal(metadata.brokers[0]!.port, broker.port);
    } finally {
      client.close();
    }
  });
});

Deno.test("malformed, truncated and oversized frames close only their own connection", async () => {
  await withBroker(
    { maxFrameBytes: 1 << 20, createTopics: [{ name: "safe", partitions: 1 }] },
    async (broker) => {
      const bystander = await RawKafkaClient.connect(broker.address, "bystander");
      const acked = await bystander.request(
        M.produce,
        7,
        produceBody("safe", buildRecordBatch([{ value: encoder.encode("kept") }])),
      );
      assert.equal(acked.responses[0]!.partitions[0]!.errorCode, 0);
      const bad: [string, Uint8Array][] = [
        ["oversized", new Uint8Array([0x7f, 0xff, 0xff, 0xff])],
        ["negative size", new Uint8Array([0xff, 0xff, 0xff, 0xf0])],
        ["short header", new Uint8Array([0, 0, 0, 3, 0, 3, 0])],
        [
          "garbage body",
          (() => {
            const frame = bystander.encodeRequest(M.metadata, 1, { topics: [{ name: "x" }] });
            frame.fill(0x7f, 14); // an array length far beyond the frame
            return frame;
          })(),
        ],
      ];
      for (const [what, bytes] of bad) {
        const victim = await RawKafkaClient.connect(broker.address, what);
        try {
          await victim.send(bytes);
          assert.equal(await victim.readFrame(), null, `${what}: the broker closed the connection`);
        } finally {
          victim.close();
        }
      }
      const truncated = await RawKafkaClient.connect(broker.address, "truncated");
      await truncated.send(new Uint8Array([0, 0, 1, 0, 0, 3]));
      truncated.close();
      await metadataWorks(bystander);
      assert.equal(
        broker.topics.get("safe", 0)!.highWatermark,
        1,
        "acknowledged data is still there",
      );
      bystander.close();
    },
  );
});

Deno.test("the request decoder survives random and mutated frames (fast-check)", async () => {
  const seed = Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 1_000_000);
  // Up front, not only on a failure: a decoder that loops forever never fails.
  console.error(`FUZZ_SEED=${seed} deno test -A --frozen ${import.meta.filename} replays this run`);
  const runs = Number(Deno.env.get("FUZZ_RUNS") ?? 150);
  await withBroker(
    { maxFrameBytes: 1 << 16, createTopics: [{ name: "fz", partitions: 1 }] },
    async (broker) => {
      const template = await RawKafkaClient.connect(broker.address);
      const valid = [...APIS.values()].flatMap((api) =>
        [api.minVersion, api.maxVersion].map((v) => validFrame(template, api, v))
      ).filter((f): f is Uint8Array => f !== undefined);
      const mutated = fc.tuple(
        fc.constantFrom(...valid),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.option(fc.nat(), { nil: undefined }),
      ).map(([frame, edits, cut]) => {
        const copy = frame.slice();
        for (const [at, byte] of edits) copy[4 + (at % Math.max(1, copy.length - 4))] = byte;
        const size = cut === undefined ? copy.length - 4 : cut % copy.length;
        new DataView(copy.buffer).setInt32(0, size);
        return copy.subarray(0, Math.min(copy.length, 4 + size));
      });
      const random = fc.uint8Array({ minLength: 10, maxLength: 300 }).map((body) => {
        const frame = new Uint8Array(4 + body.length);
        new DataView(frame.buffer).setInt32(0, body.length);
        frame.set(body, 4);
        return frame;
      });
      try {
        await fc.assert(
          fc.asyncProperty(fc.oneof(mutated, random), async (frame) => {
            const client = await RawKafkaClient.connect(broker.address, "fuzz");
            try {
              await client.send(frame);
              // Answered or closed, never hung: a short wait for either is enough.
              await Promise.race([client.readFrame(), new Promise((r) => setTimeout(r, 20))]);
            } finally {
              client.close();
            }
            await metadataWorks(template);
          }),
          { seed, numRuns: runs, interruptAfterTimeLimit: 20_000 },
        );
      } catch (error) {
        throw new Error(
          `Fuzz failed; replay with FUZZ_SEED=${seed} deno test -A ${import.meta.filename}`,
          { cause: error },
        );
      } finally {
        template.close();
      }
    },
  );
});

/** A valid request frame of an API at a version, or undefined if none is easy to make. */
function validFrame(
  client: RawKafkaClient,
  api: ApiSpec,
  version: number,
): Uint8Array | undefined {
  const bodies: Record<number, RequestBody<ApiSpec>> = {
    [ApiKey.Produce]: produceBody("fz", buildRecordBatch([{ value: encoder.encode("v") }])),
    [ApiKey.Fetch]: {
      maxWaitMs: 0,
      minBytes: 0,
      topics: [{
        topic: "fz",
        partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1000 }],
      }],
    },
    [ApiKey.ListOffsets]: {
      topics: [{ name: "fz", partitions: [{ partitionIndex: 0, timestamp: -1 }] }],
    },
    [ApiKey.Metadata]: { topics: [{ name: "fz" }] },
    [ApiKey.OffsetCommit]: {
      groupId: "g",
      topics: [{ name: "fz", partitions: [{ partitionIndex: 0, committedOffset: 0 }] }],
    },
    [ApiKey.OffsetFetch]: { groupId: "g", topics: [{ name: "fz", partitionIndexes: [0] }] },
    [ApiKey.FindCoordinator]: { key: "g" },
    [ApiKey.Heartbeat]: { groupId: "g", generationId: 1, memberId: "m" },
    [ApiKey.LeaveGroup]: { groupId: "g", memberId: "m", members: [{ memberId: "m" }] },
    [ApiKey.SyncGroup]: { groupId: "g", generationId: 1, memberId: "m", assignments: [] },
    [ApiKey.DescribeGroups]: { groups: ["g"] },
    [ApiKey.ListGroups]: {},
    [ApiKey.ApiVersions]: {},
    [ApiKey.CreateTopics]: { topics: [{ name: "fz2", numPartitions: 1, replicationFactor: 1 }] },
    [ApiKey.DeleteTopics]: { topicNames: ["nope"] },
    [ApiKey.InitProducerId]: { transactionalId: null },
  };
  // JoinGroup is left out: a valid one waits for a rebalance, which would slow the fuzz loop.
  const body = bodies[api.key];
  return body === undefined ? undefined : client.encodeRequest(api, version, body);
}

Deno.test("the request decoder throws only DecodeError on arbitrary bytes (fast-check)", () => {
  const seed = Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 1_000_000);
  // Up front, not only on a failure: a decoder that loops forever never fails.
  console.error(`FUZZ_SEED=${seed} deno test -A --frozen ${import.meta.filename} replays this run`);
  const apis = [...APIS.values()];
  try {
    fc.assert(
      fc.property(
        fc.constantFrom(...apis),
        fc.nat(),
        fc.uint8Array({ maxLength: 200 }),
        (api, versionPick, body) => {
          const version = api.minVersion + (versionPick % (api.maxVersion - api.minVersion + 1));
          const frame = new Uint8Array(10 + body.length);
          const view = new DataView(frame.buffer);
          view.setInt16(0, api.key);
          view.setInt16(2, version);
          view.setInt16(8, -1);
          frame.set(body, 10);
          try {
            const reader = new Reader(frame);
            const header = parseRequestHeader(frame, reader);
            if (header.api !== undefined) decodeMessage(header.api.request, reader, version);
          } catch (error) {
            if (!(error instanceof DecodeError)) throw error;
          }
        },
      ),
      { seed, numRuns: Number(Deno.env.get("FUZZ_RUNS") ?? 3000) },
    );
  } catch (error) {
    throw new Error(
      `Fuzz failed; replay with FUZZ_SEED=${seed} deno test -A ${import.meta.filename}`,
      { cause: error },
    );
  }
});
