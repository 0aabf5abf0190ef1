/**
 * Groups that expire (issue 13), over TCP with the raw client: a refused JoinGroup leaves no
 * group behind; a group without members or offsets is removed by the cleanup; a group
 * without members keeps its committed offsets until `offsetsRetentionMs`, a group with a
 * member keeps them past it; the variables are validated by name.
 */
import assert from "node:assert/strict";
import { waitFor } from "@trading/testing";
import { withBroker } from "@trading/testing/with-broker";
import { loadBrokerConfig } from "./config.ts";
import { ErrorCode } from "./protocol/error_codes.ts";
import * as M from "./protocol/messages.ts";
import { RawKafkaClient } from "@trading/testing/raw-kafka-client";

const PROTOCOLS = [{ name: "range", metadata: new Uint8Array(0) }];

function join(
  client: RawKafkaClient,
  groupId: string,
  options: { sessionTimeoutMs?: number; memberId?: string; protocols?: typeof PROTOCOLS } = {},
) {
  // v3: no MEMBER_ID_REQUIRED round trip, so one request joins.
  return client.request(M.joinGroup, 3, {
    groupId,
    sessionTimeoutMs: options.sessionTimeoutMs ?? 10_000,
    rebalanceTimeoutMs: 10_000,
    memberId: options.memberId ?? "",
    protocolType: "consumer",
    protocols: options.protocols ?? PROTOCOLS,
  });
}

type Joined = Awaited<ReturnType<typeof join>>;

/** Joins as the only member and syncs, so the group is Stable and takes commits. */
async function joinAndSync(
  client: RawKafkaClient,
  groupId: string,
  sessionTimeoutMs?: number,
): Promise<Joined> {
  const joined = await join(
    client,
    groupId,
    sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs },
  );
  assert.equal(joined.errorCode, ErrorCode.NONE);
  const synced = await client.request(M.syncGroup, 1, {
    groupId,
    generationId: joined.generationId,
    memberId: joined.memberId,
    assignments: [{ memberId: joined.memberId, assignment: new Uint8Array(0) }],
  });
  assert.equal(synced.errorCode, ErrorCode.NONE);
  return joined;
}

async function groupIds(client: RawKafkaClient): Promise<string[]> {
  const listed = await client.request(M.listGroups, 3, {});
  return listed.groups.map((g) => g.groupId).sort();
}

async function commit(client: RawKafkaClient, groupId: string, joined: Joined) {
  const response = await client.request(M.offsetCommit, 2, {
    groupId,
    generationId: joined.generationId,
    memberId: joined.memberId,
    retentionTimeMs: -1,
    topics: [{
      name: "t",
      partitions: [{ partitionIndex: 0, committedOffset: 42, committedMetadata: null }],
    }],
  });
  assert.equal(response.topics[0]!.partitions[0]!.errorCode, ErrorCode.NONE);
}

async function committed(client: RawKafkaClient, groupId: string): Promise<number> {
  const fetched = await client.request(M.offsetFetch, 3, {
    groupId,
    topics: [{ name: "t", partitionIndexes: [0] }],
  });
  return fetched.topics[0]!.partitions[0]!.committedOffset;
}

async function leave(client: RawKafkaClient, groupId: string, memberId: string) {
  const left = await client.request(M.leaveGroup, 1, {
    groupId,
    memberId,
  });
  assert.equal(left.errorCode, ErrorCode.NONE);
}

Deno.test("2000 refused JoinGroups leave no group behind (ListGroups)", async () => {
  await withBroker({}, async (broker) => {
    const client = await RawKafkaClient.connect(broker.address);
    try {
      for (let i = 0; i < 2000; i++) {
        // Three refusals Kafka answers before it creates a group.
        const refused = i % 3 === 0
          ? await join(client, `bad-${i}`, { sessionTimeoutMs: 1 })
          : i % 3 === 1
          ? await join(client, `bad-${i}`, { protocols: [] })
          : await join(client, `bad-${i}`, { memberId: "made-up" });
        assert.equal(
          refused.errorCode,
          [
            ErrorCode.INVALID_SESSION_TIMEOUT,
            ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
            ErrorCode.UNKNOWN_MEMBER_ID,
          ][i % 3],
        );
      }
      assert.deepEqual(await groupIds(client), []);
    } finally {
      client.close();
    }
  });
});

Deno.test("a group without members or offsets is removed by the cleanup; one with offsets keeps them", async () => {
  await withBroker(
    { groupCleanupIntervalMs: 100, createTopics: [{ name: "t", partitions: 1 }] },
    async (broker) => {
      const client = await RawKafkaClient.connect(broker.address);
      try {
        const gone = await joinAndSync(client, "gone");
        const kept = await joinAndSync(client, "kept");
        await commit(client, "kept", kept);
        assert.deepEqual(await groupIds(client), ["gone", "kept"]);
        await leave(client, "gone", gone.memberId);
        await leave(client, "kept", kept.memberId);
        await waitFor(
          "the vacant group to be removed",
          async () => !(await groupIds(client)).includes("gone"),
        );
        assert.deepEqual(await groupIds(client), ["kept"]);
        assert.equal(await committed(client, "kept"), 42);
        // The removed group can be joined again.
        const again = await joinAndSync(client, "gone");
        await leave(client, "gone", again.memberId);
      } finally {
        client.close();
      }
    },
  );
});

Deno.test("a vacant group's offsets expire after offsetsRetentionMs; a group with a member keeps them", async () => {
  await withBroker({
    groupCleanupIntervalMs: 100,
    offsetsRetentionMs: 300,
    createTopics: [{ name: "t", partitions: 1 }],
  }, async (broker) => {
    const client = await RawKafkaClient.connect(broker.address);
    try {
      const vacant = await joinAndSync(client, "vacant");
      await commit(client, "vacant", vacant);
      const active = await joinAndSync(client, "active", 60_000);
      await commit(client, "active", active);
      await leave(client, "vacant", vacant.memberId);
      await waitFor(
        "the vacant group's offsets to expire",
        async () => (await committed(client, "vacant")) === -1,
      );
      await waitFor(
        "the vacant group to be removed",
        async () => !(await groupIds(client)).includes("vacant"),
      );
      // The cleanup ran past the retention: the member's group still has its offset.
      assert.equal(await committed(client, "active"), 42);
      assert.deepEqual(await groupIds(client), ["active"]);
      await leave(client, "active", active.memberId);
    } finally {
      client.close();
    }
  });
});

Deno.test("BROKER_OFFSETS_RETENTION_CHECK_MS and BROKER_OFFSETS_RETENTION_MS have Kafka's defaults and are validated by name", () => {
  const config = loadBrokerConfig({});
  assert.equal(config.broker.groupCleanupIntervalMs, 600_000);
  assert.equal(config.broker.offsetsRetentionMs, 7 * 24 * 60 * 60 * 1000);
  assert.equal(
    loadBrokerConfig({ BROKER_OFFSETS_RETENTION_MS: "-1" }).broker.offsetsRetentionMs,
    -1,
  );
  assert.throws(
    () => loadBrokerConfig({ BROKER_OFFSETS_RETENTION_CHECK_MS: "0" }),
    /BROKER_OFFSETS_RETENTION_CHECK_MS/,
  );
  assert.throws(
    () => loadBrokerConfig({ BROKER_OFFSETS_RETENTION_MS: "week" }),
    /BROKER_OFFSETS_RETENTION_MS/,
  );
});
