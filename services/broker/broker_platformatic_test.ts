/**
 * @platformatic/kafka 2.12.1, a second JavaScript client, against the broker over TCP under
 * Deno: the flexible request versions it negotiates (Produce v11, Fetch v17, Metadata v12,
 * topics named by id), admin, keyed produce and a group consumer that commits, a group that
 * splits its partitions, the idempotent producer, transactions under read_committed and
 * read_uncommitted, and consume-transform-produce with the offsets in the transaction.
 */
import assert from "node:assert/strict";
import { tracingChannel } from "node:diagnostics_channel";
import {
  Admin,
  type ConsumeOptions,
  Consumer,
  type Message,
  Producer,
  stringDeserializers,
  stringSerializers,
} from "@platformatic/kafka";
import { waitFor } from "@trading/testing";
import { RawKafkaClient } from "@trading/testing/raw-kafka-client";
import { withBroker } from "@trading/testing/with-broker";
import * as M from "./protocol/messages.ts";
import { isProblem, parseBatches } from "./protocol/record_batch.ts";

const READ_UNCOMMITTED = 0;
const READ_COMMITTED = 1;

type StringMessage = Message<string, string, string, string>;

function producer(address: string, options: Record<string, unknown> = {}) {
  return new Producer({
    clientId: "platformatic-test",
    bootstrapBrokers: [address],
    serializers: stringSerializers,
    retries: 5,
    retryDelay: 50,
    ...options,
  });
}

function consumer(address: string, groupId: string, options: Record<string, unknown> = {}) {
  return new Consumer({
    clientId: "platformatic-test",
    groupId,
    bootstrapBrokers: [address],
    deserializers: stringDeserializers,
    maxWaitTime: 100,
    sessionTimeout: 10_000,
    heartbeatInterval: 500,
    retries: 5,
    retryDelay: 50,
    ...options,
  });
}

/**
 * Reads `count` messages of `topics` with a fresh member of `groupId` from the group's
 * committed offsets (earliest when none), committing each when `commit` is set.
 */
async function readMessages(
  address: string,
  groupId: string,
  topics: string[],
  count: number,
  options: { isolationLevel?: number; commit?: boolean } = {},
): Promise<StringMessage[]> {
  const member = consumer(address, groupId, {
    isolationLevel: options.isolationLevel ?? READ_COMMITTED,
  });
  const received: StringMessage[] = [];
  try {
    const stream = await member.consume({
      topics,
      mode: "committed",
      fallbackMode: "earliest",
      autocommit: false,
    } as ConsumeOptions<string, string, string, string>);
    try {
      for await (const message of stream) {
        received.push(message);
        if (options.commit) await message.commit();
        if (received.length >= count) break;
      }
    } finally {
      await stream.close();
    }
  } finally {
    await member.close();
  }
  return received;
}

/** Every request the client sends in `fn`, as `apiKey -> versions` (node:diagnostics_channel). */
async function recordRequestVersions(fn: () => Promise<void>): Promise<Map<number, Set<number>>> {
  const seen = new Map<number, Set<number>>();
  const channel = tracingChannel("plt:kafka:connections:api");
  const ignore = () => {};
  const subscribers = {
    start: (message: unknown) => {
      const { apiKey, apiVersion } = message as { apiKey: number; apiVersion: number };
      const versions = seen.get(apiKey) ?? new Set<number>();
      versions.add(apiVersion);
      seen.set(apiKey, versions);
    },
    end: ignore,
    asyncStart: ignore,
    asyncEnd: ignore,
    error: ignore,
  };
  channel.subscribe(subscribers);
  try {
    await fn();
  } finally {
    channel.unsubscribe(subscribers);
  }
  return seen;
}

Deno.test("@platformatic/kafka negotiates Produce v11, Fetch v17 and Metadata v12 and round-trips keyed messages", async () => {
  await withBroker({ createTopics: [{ name: "flex", partitions: 3 }] }, async (broker) => {
    let received: StringMessage[] = [];
    const versions = await recordRequestVersions(async () => {
      const p = producer(broker.address);
      try {
        for (let i = 0; i < 30; i++) {
          await p.send({
            messages: [{
              topic: "flex",
              key: `k${i % 5}`,
              value: `v${i}`,
              headers: { seq: `${i}` },
            }],
            acks: -1,
          });
        }
      } finally {
        await p.close();
      }
      received = await readMessages(broker.address, "flex-readers", ["flex"], 30);
    });
    assert.deepEqual([...versions.get(0) ?? []], [11], "Produce");
    assert.deepEqual([...versions.get(1) ?? []], [17], "Fetch");
    assert.deepEqual([...versions.get(3) ?? []], [12], "Metadata");

    assert.equal(received.length, 30);
    const byKey = new Map<string, number[]>();
    const partitionOfKey = new Map<string, number>();
    for (const m of received) {
      assert.equal(m.value, `v${m.headers.get("seq")}`);
      const seqs = byKey.get(m.key) ?? [];
      seqs.push(Number(m.headers.get("seq")));
      byKey.set(m.key, seqs);
      if (partitionOfKey.has(m.key)) assert.equal(partitionOfKey.get(m.key), m.partition);
      partitionOfKey.set(m.key, m.partition);
    }
    for (const [key, seqs] of byKey) {
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `order of key ${key}`);
    }
  });
});

Deno.test("@platformatic/kafka admin creates, describes, grows and deletes topics", async () => {
  await withBroker({ autoCreateTopics: false }, async (broker) => {
    const admin = new Admin({ clientId: "platformatic-test", bootstrapBrokers: [broker.address] });
    try {
      await admin.createTopics({ topics: ["alpha", "beta"], partitions: 2, replicas: 1 });
      await assert.rejects(
        admin.createTopics({ topics: ["alpha"], partitions: 2, replicas: 1 }),
        "creating an existing topic fails",
      );
      assert.deepEqual((await admin.listTopics()).sort(), ["alpha", "beta"]);
      const metadata = await admin.metadata({ topics: ["alpha"] });
      const alpha = metadata.topics.get("alpha")!;
      assert.equal(alpha.partitionsCount, 2);
      assert.notEqual(alpha.id, "00000000-0000-0000-0000-000000000000", "a topic id");
      assert.ok(
        metadata.brokers.has(alpha.partitions[0]!.leader),
        "the leader is a broker it knows",
      );

      await admin.createPartitions({ topics: [{ name: "alpha", count: 4 }] });
      const grown = await admin.metadata({ topics: ["alpha"], forceUpdate: true });
      assert.equal(grown.topics.get("alpha")!.partitionsCount, 4);

      await admin.deleteTopics({ topics: ["beta"] });
      assert.deepEqual(await admin.listTopics(), ["alpha"]);
    } finally {
      await admin.close();
    }
  });
});

Deno.test("@platformatic/kafka group consumer commits offsets and a new member resumes after them", async () => {
  await withBroker({ createTopics: [{ name: "ledger", partitions: 2 }] }, async (broker) => {
    const p = producer(broker.address);
    try {
      await p.send({
        messages: Array.from(
          { length: 20 },
          (_, i) => ({ topic: "ledger", key: `k${i}`, value: `a${i}` }),
        ),
      });
      const first = await readMessages(broker.address, "resumers", ["ledger"], 20, {
        commit: true,
      });
      assert.deepEqual(
        first.map((m) => m.value).sort(),
        Array.from({ length: 20 }, (_, i) => `a${i}`).sort(),
      );

      const admin = new Admin({
        clientId: "platformatic-test",
        bootstrapBrokers: [broker.address],
      });
      try {
        const committed = await admin.listConsumerGroupOffsets({ groups: ["resumers"] });
        const ledger = committed[0]!.topics.find((t) => t.name === "ledger")!;
        const total = ledger.partitions.reduce((sum, q) => sum + Number(q.committedOffset), 0);
        assert.equal(total, 20, "committed offsets cover all 20 messages");
      } finally {
        await admin.close();
      }

      await p.send({ messages: [{ topic: "ledger", key: "k0", value: "b0" }] });
      const second = await readMessages(broker.address, "resumers", ["ledger"], 1);
      assert.deepEqual(
        second.map((m) => m.value),
        ["b0"],
        "the new member starts after the commits",
      );
    } finally {
      await p.close();
    }
  });
});

Deno.test("@platformatic/kafka group of two members splits the partitions, the survivor takes all when one leaves", async () => {
  await withBroker({ createTopics: [{ name: "shared", partitions: 4 }] }, async (broker) => {
    const a = consumer(broker.address, "pair");
    const b = consumer(broker.address, "pair");
    const assigned = (c: typeof a) =>
      [...(c.assignments ?? [])].reduce((n, t) => n + t.partitions.length, 0);
    const got = { a: new Set<number>(), b: new Set<number>() };
    const p = producer(broker.address);
    const streams: { close(): Promise<void> }[] = [];
    try {
      const streamA = await a.consume({ topics: ["shared"], mode: "earliest", autocommit: true });
      streams.push(streamA);
      streamA.on("data", (m: StringMessage) => got.a.add(m.partition));
      const streamB = await b.consume({ topics: ["shared"], mode: "earliest", autocommit: true });
      streams.push(streamB);
      streamB.on("data", (m: StringMessage) => got.b.add(m.partition));
      await waitFor(
        "both members assigned two partitions",
        () => assigned(a) === 2 && assigned(b) === 2,
        { timeoutMs: 30_000 },
      );
      const owned = (c: typeof a) => (c.assignments ?? []).flatMap((t) => t.partitions);
      assert.deepEqual([...owned(a), ...owned(b)].sort(), [0, 1, 2, 3], "disjoint, all four");
      for (let round = 0; round < 5; round++) {
        await p.send({
          messages: [0, 1, 2, 3].map((partition) => ({
            topic: "shared",
            partition,
            value: `r${round}`,
          })),
        });
      }
      // Each member reads at least its own partitions. Not "only": a fetch sent before the
      // rebalance can still deliver a revoked partition (see the test below).
      await waitFor(
        "each member reads its partitions",
        () => owned(a).every((x) => got.a.has(x)) && owned(b).every((x) => got.b.has(x)),
        { timeoutMs: 30_000 },
      );

      await streams.pop()!.close();
      await b.close();
      got.a.clear();
      await waitFor("the survivor owns all four partitions", () => assigned(a) === 4, {
        timeoutMs: 30_000,
      });
      await p.send({
        messages: [0, 1, 2, 3].map((partition) => ({ topic: "shared", partition, value: "after" })),
      });
      await waitFor("the survivor reads all four", () => got.a.size === 4, { timeoutMs: 30_000 });
    } finally {
      for (const stream of streams) await stream.close();
      await p.close();
      await b.close();
      await a.close();
    }
  });
});

Deno.test("@platformatic/kafka 2.12.1 delivers a revoked partition's records from a fetch sent before the rebalance", async () => {
  // Its MessagesStream pushes every partition a fetch asked for (#pushRecords checks the
  // request's partitions, not the current assignment), so a long poll sent while the member
  // owned all four partitions hands it records of a partition the rebalance gave to another
  // member. Java's consumer drops fetched data of partitions no longer assigned.
  await withBroker({ createTopics: [{ name: "revoked", partitions: 2 }] }, async (broker) => {
    const a = consumer(broker.address, "stale", { maxWaitTime: 20_000 });
    const b = consumer(broker.address, "stale");
    const owned = (c: typeof a) => (c.assignments ?? []).flatMap((t) => t.partitions);
    const readByA: number[] = [];
    const p = producer(broker.address);
    const streams: { close(): Promise<void> }[] = [];
    try {
      const streamA = await a.consume({ topics: ["revoked"], mode: "earliest", autocommit: false });
      streams.push(streamA);
      streamA.on("data", (m: StringMessage) => readByA.push(m.partition));
      await waitFor("a owns both partitions", () => owned(a).length === 2, { timeoutMs: 30_000 });
      const streamB = await b.consume({ topics: ["revoked"], mode: "earliest", autocommit: false });
      streams.push(streamB);
      streamB.on("data", () => {});
      await waitFor("one partition each", () => owned(a).length === 1 && owned(b).length === 1, {
        timeoutMs: 30_000,
      });
      const revoked = owned(b)[0]!;
      await p.send({ messages: [{ topic: "revoked", partition: revoked, value: "not yours" }] });
      await waitFor("a reads the revoked partition", () => readByA.includes(revoked), {
        timeoutMs: 15_000,
      });
      assert.deepEqual(owned(a), [1 - revoked], "a does not own what it read");
    } finally {
      for (const stream of streams) await stream.close();
      await p.close();
      await b.close();
      await a.close();
    }
  });
});

Deno.test("@platformatic/kafka idempotent producer gets a producer id and writes each message once, in order", async () => {
  await withBroker({ createTopics: [{ name: "once", partitions: 1 }] }, async (broker) => {
    const p = producer(broker.address, { idempotent: true });
    try {
      for (let i = 0; i < 10; i++) {
        await p.send({
          messages: Array.from(
            { length: 10 },
            (_, j) => ({ topic: "once", value: `${i * 10 + j}` }),
          ),
        });
      }
      assert.ok(p.producerId !== undefined && p.producerId >= 0n, "a producer id");
    } finally {
      await p.close();
    }
    const read = await readMessages(broker.address, "once-readers", ["once"], 100);
    assert.deepEqual(read.map((m) => Number(m.value)), Array.from({ length: 100 }, (_, i) => i));
    assert.deepEqual(read.map((m) => m.offset), Array.from({ length: 100 }, (_, i) => BigInt(i)));
  });
});

Deno.test("@platformatic/kafka idempotent producers running side by side get producer ids of their own", async () => {
  // Each sends producer id 0 and epoch 0 in its InitProducerId v4; Kafka gives every
  // non-transactional InitProducerId a new id, so neither fences the other.
  await withBroker({ createTopics: [{ name: "pair", partitions: 1 }] }, async (broker) => {
    const a = producer(broker.address, { idempotent: true });
    const b = producer(broker.address, { idempotent: true });
    try {
      await a.send({ messages: [{ topic: "pair", value: "a0" }] });
      await b.send({ messages: [{ topic: "pair", value: "b0" }] });
      await a.send({ messages: [{ topic: "pair", value: "a1" }] });
      await b.send({ messages: [{ topic: "pair", value: "b1" }] });
      assert.notEqual(a.producerId, b.producerId);
      assert.deepEqual([a.producerEpoch, b.producerEpoch], [0, 0]);
    } finally {
      await a.close();
      await b.close();
    }
    const read = await readMessages(broker.address, "pair-readers", ["pair"], 4);
    assert.deepEqual(read.map((m) => m.value), ["a0", "b0", "a1", "b1"]);
  });
});

Deno.test("@platformatic/kafka transactions: read_committed sees committed records only, read_uncommitted sees both", async () => {
  await withBroker({ createTopics: [{ name: "txn", partitions: 2 }] }, async (broker) => {
    const p = producer(broker.address, { transactionalId: "txn-writer", idempotent: true });
    try {
      const committed = await p.beginTransaction();
      await committed.send({
        messages: [0, 1].map((partition) => ({
          topic: "txn",
          partition,
          value: `committed-${partition}`,
        })),
      });
      await committed.commit();
      const aborted = await p.beginTransaction();
      await aborted.send({
        messages: [0, 1].map((partition) => ({
          topic: "txn",
          partition,
          value: `aborted-${partition}`,
        })),
      });
      await aborted.abort();
      const last = await p.beginTransaction();
      await last.send({ messages: [{ topic: "txn", partition: 0, value: "last" }] });
      await last.commit();
    } finally {
      await p.close();
    }
    const visible = await readMessages(broker.address, "rc", ["txn"], 3, {
      isolationLevel: READ_COMMITTED,
    });
    assert.deepEqual(visible.map((m) => m.value).sort(), ["committed-0", "committed-1", "last"]);
    const everything = await readMessages(broker.address, "ru", ["txn"], 5, {
      isolationLevel: READ_UNCOMMITTED,
    });
    assert.deepEqual(
      everything.map((m) => m.value).sort(),
      ["aborted-0", "aborted-1", "committed-0", "committed-1", "last"],
    );
  });
});

Deno.test("@platformatic/kafka transactions: an open transaction holds back a read_committed reader until it commits", async () => {
  await withBroker({ createTopics: [{ name: "open", partitions: 1 }] }, async (broker) => {
    const plain = producer(broker.address, { idempotent: true });
    const txnProducer = producer(broker.address, { transactionalId: "txn-open", idempotent: true });
    const reader = consumer(broker.address, "open-reader", { isolationLevel: READ_COMMITTED });
    const values: string[] = [];
    const streams: { close(): Promise<void> }[] = [];
    try {
      await plain.send({ messages: [{ topic: "open", value: "before" }] });
      const txn = await txnProducer.beginTransaction();
      await txn.send({ messages: [{ topic: "open", value: "in-txn" }] });
      await plain.send({ messages: [{ topic: "open", value: "after" }] });
      const stream = await reader.consume({
        topics: ["open"],
        mode: "earliest",
        autocommit: false,
      });
      streams.push(stream);
      stream.on("data", (m: StringMessage) => values.push(m.value));
      await waitFor("the record before the transaction", () => values.length >= 1, {
        timeoutMs: 20_000,
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.deepEqual(values, ["before"], "nothing past the open transaction's first offset");
      await txn.commit();
      await waitFor("every record after the commit", () => values.length >= 3, {
        timeoutMs: 20_000,
      });
      assert.deepEqual(values, ["before", "in-txn", "after"]);
    } finally {
      for (const stream of streams) await stream.close();
      await reader.close();
      await plain.close();
      await txnProducer.close();
    }
  });
});

Deno.test("@platformatic/kafka transactions: a successor with the same transactional id fences the first and aborts its transaction", async () => {
  await withBroker({ createTopics: [{ name: "fence", partitions: 1 }] }, async (broker) => {
    const zombie = producer(broker.address, { transactionalId: "txn-fence", idempotent: true });
    const successor = producer(broker.address, { transactionalId: "txn-fence", idempotent: true });
    try {
      const zombieTxn = await zombie.beginTransaction();
      await zombieTxn.send({ messages: [{ topic: "fence", value: "zombie-1" }] });
      // The successor's InitProducerId bumps the epoch and aborts the zombie's transaction.
      const txn = await successor.beginTransaction({ producerId: -1n, producerEpoch: -1 });
      await txn.send({ messages: [{ topic: "fence", value: "successor" }] });
      await assert.rejects(
        zombieTxn.send({ messages: [{ topic: "fence", value: "zombie-2" }] }),
        "the zombie's next send is refused",
      );
      await assert.rejects(zombieTxn.commit(), "the zombie's commit is refused");
      await txn.commit();
    } finally {
      await zombie.close(true).catch(() => {});
      await successor.close();
    }
    const read = await readMessages(broker.address, "fence-reader", ["fence"], 1);
    assert.deepEqual(read.map((m) => m.value), ["successor"]);
    assert.equal(broker.transactions.describe("txn-fence")?.state, "CompleteCommit");
  });
});

Deno.test("@platformatic/kafka consume-transform-produce: input offsets commit with the output transaction, not with an aborted one", async () => {
  await withBroker({
    createTopics: [{ name: "in", partitions: 1 }, { name: "out", partitions: 1 }],
  }, async (broker) => {
    const source = producer(broker.address);
    try {
      await source.send({
        messages: Array.from({ length: 4 }, (_, i) => ({ topic: "in", value: `m${i}` })),
      });
    } finally {
      await source.close();
    }
    /** A new member of group "xform" and a new producer process `n` messages in one transaction. */
    const processBatch = async (n: number, commit: boolean) => {
      const member = consumer(broker.address, "xform");
      const p = producer(broker.address, { transactionalId: "xform-1", idempotent: true });
      const seen: string[] = [];
      try {
        const stream = await member.consume({
          topics: ["in"],
          mode: "committed",
          fallbackMode: "earliest",
          autocommit: false,
        } as ConsumeOptions<string, string, string, string>);
        try {
          // A new instance must ask for a new holder (-1, -1): see the fencing test below.
          const txn = await p.beginTransaction({ producerId: -1n, producerEpoch: -1 });
          await txn.addConsumer(member);
          for await (const message of stream) {
            await txn.send({ messages: [{ topic: "out", value: `${message.value}!` }] });
            await txn.addOffset(message);
            seen.push(message.value);
            if (seen.length >= n) break;
          }
          if (commit) await txn.commit();
          else await txn.abort();
        } finally {
          await stream.close();
        }
        return seen;
      } finally {
        await p.close();
        await member.close();
      }
    };
    assert.deepEqual(await processBatch(2, false), ["m0", "m1"]);
    assert.deepEqual(
      await processBatch(2, true),
      ["m0", "m1"],
      "the aborted offsets were not committed",
    );
    assert.deepEqual(await processBatch(2, true), ["m2", "m3"], "the committed offsets were");
    const out = await readMessages(broker.address, "out-readers", ["out"], 4);
    assert.deepEqual(out.map((m) => m.value), ["m0!", "m1!", "m2!", "m3!"]);
  });
});

Deno.test("@platformatic/kafka 2.12.1: a new producer reusing a transactional id is fenced unless it begins with producer id -1", async () => {
  // The library's InitProducerId v3+ sends producer id 0 and epoch 0 when none is given (its
  // producer.js #initIdempotentProducer). For a transactional id that already has a holder,
  // Kafka (and this broker) take that as a stale holder and answer PRODUCER_FENCED; a service
  // restarted under the same transactional id must pass producerId -1n, producerEpoch -1.
  await withBroker({ createTopics: [{ name: "fenced", partitions: 1 }] }, async (broker) => {
    // Producer ids start at 0, and a holder whose id is 0 matches what the library sends:
    // take id 0 with an idempotent producer first, as any busy cluster would have.
    const other = producer(broker.address, { idempotent: true });
    try {
      await other.send({ messages: [{ topic: "fenced", value: "other" }] });
      assert.equal(other.producerId, 0n);
    } finally {
      await other.close();
    }
    const first = producer(broker.address, { transactionalId: "restarted", idempotent: true });
    try {
      const txn = await first.beginTransaction();
      await txn.send({ messages: [{ topic: "fenced", value: "first" }] });
      await txn.commit();
    } finally {
      await first.close();
    }
    const naive = producer(broker.address, { transactionalId: "restarted", idempotent: true });
    try {
      await assert.rejects(naive.beginTransaction(), /fences the current one/);
    } finally {
      await naive.close(true);
    }
    const restarted = producer(broker.address, { transactionalId: "restarted", idempotent: true });
    try {
      const txn = await restarted.beginTransaction({ producerId: -1n, producerEpoch: -1 });
      await txn.send({ messages: [{ topic: "fenced", value: "second" }] });
      await txn.commit();
    } finally {
      await restarted.close();
    }
    const read = await readMessages(broker.address, "fenced-readers", ["fenced"], 3);
    assert.deepEqual(read.map((m) => m.value), ["other", "first", "second"]);
  });
});

Deno.test("@platformatic/kafka produces with gzip, snappy, lz4 and zstd under Deno, and reads each back", async () => {
  // zstd goes through node:zlib's zstdCompressSync, snappy and lz4 through the library's
  // WebAssembly (@platformatic/wasm-utils): both work under Deno 2.
  const codecs = ["gzip", "snappy", "lz4", "zstd"] as const;
  await withBroker({
    createTopics: codecs.map((codec) => ({ name: `codec-${codec}`, partitions: 1 })),
  }, async (broker) => {
    const p = producer(broker.address);
    try {
      for (const compression of codecs) {
        await p.send({
          messages: Array.from({ length: 20 }, (_, i) => ({
            topic: `codec-${compression}`,
            value: `${compression}-${i}-${"x".repeat(200)}`,
          })),
          compression,
        });
      }
    } finally {
      await p.close();
    }
    // The log holds the batches as the library compressed them (attributes bits 0-2: Kafka's
    // codec ids 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    const raw = await RawKafkaClient.connect(broker.address);
    try {
      for (const [i, codec] of codecs.entries()) {
        const fetched = await raw.request(M.fetch, 11, {
          replicaId: -1,
          maxWaitMs: 0,
          minBytes: 0,
          maxBytes: 1 << 20,
          sessionEpoch: -1,
          topics: [{
            topic: `codec-${codec}`,
            partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }],
          }],
        });
        const batches = parseBatches(fetched.responses[0]!.partitions[0]!.records!);
        assert.ok(!isProblem(batches), codec);
        assert.deepEqual(batches.map((b) => b.attributes & 0x7), [i + 1], codec);
      }
    } finally {
      raw.close();
    }
    for (const codec of codecs) {
      const read = await readMessages(broker.address, `codec-${codec}`, [`codec-${codec}`], 20);
      assert.deepEqual(
        read.map((m) => m.value.split("-").slice(0, 2).join("-")),
        Array.from({ length: 20 }, (_, i) => `${codec}-${i}`),
        codec,
      );
    }
  });
});
