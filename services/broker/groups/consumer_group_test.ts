import assert from "node:assert/strict";
import { ErrorCode } from "../protocol/error_codes.ts";
import type { JoinGroupResponse, SyncGroupResponse } from "../protocol/types.ts";
import { ConsumerGroup } from "./consumer_group.ts";

const SETTINGS = {
  minSessionTimeoutMs: 100,
  maxSessionTimeoutMs: 60_000,
  initialRebalanceDelayMs: 50,
};
const META = new Uint8Array([1]);

function joinRequest(memberId: string, sessionTimeoutMs = 1000) {
  return {
    groupId: "g",
    sessionTimeoutMs,
    rebalanceTimeoutMs: 5000,
    memberId,
    groupInstanceId: null,
    protocolType: "consumer",
    protocols: [{ name: "range", metadata: META }],
  };
}

/** Joins and returns the response if it came synchronously, else a promise of it. */
function join(group: ConsumerGroup, memberId: string, now: number, v4 = true) {
  let answer: JoinGroupResponse | undefined;
  const promise = new Promise<JoinGroupResponse>((resolve) =>
    group.join(
      { request: joinRequest(memberId), clientId: "c", clientHost: "h", requireKnownMemberId: v4 },
      now,
      (r) => {
        answer = r;
        resolve(r);
      },
    )
  );
  return {
    promise,
    get answer() {
      return answer;
    },
  };
}

function sync(
  group: ConsumerGroup,
  memberId: string,
  generationId: number,
  now: number,
  assignments: Record<string, number> = {},
) {
  return new Promise<SyncGroupResponse>((resolve) =>
    group.sync(
      {
        groupId: "g",
        generationId,
        memberId,
        groupInstanceId: null,
        protocolType: null,
        protocolName: null,
        assignments: Object.entries(assignments).map(([id, n]) => ({
          memberId: id,
          assignment: new Uint8Array([n]),
        })),
      },
      now,
      resolve,
    )
  );
}

/** Two members join an empty group together; the initial delay lets both in generation 1. */
async function joinBoth(group: ConsumerGroup, a: string, b: string) {
  const aJoin = join(group, a, 0);
  const bJoin = join(group, b, 10);
  group.tick(60);
  return [await aJoin.promise, await bJoin.promise] as const;
}

/** Joins a new member through MEMBER_ID_REQUIRED and returns its id. */
async function newMemberId(group: ConsumerGroup, now: number): Promise<string> {
  const first = await join(group, "", now).promise;
  assert.equal(first.errorCode, ErrorCode.MEMBER_ID_REQUIRED);
  return first.memberId;
}

Deno.test("ConsumerGroup makes a lone member leader of generation 1 and hands out its assignment", async () => {
  const group = new ConsumerGroup("g", SETTINGS);
  const id = await newMemberId(group, 0);
  const pending = join(group, id, 1);
  assert.equal(pending.answer, undefined, "the initial rebalance delay holds the first join");
  group.tick(100);
  const joined = await pending.promise;
  assert.equal(joined.errorCode, ErrorCode.NONE);
  assert.equal(joined.generationId, 1);
  assert.equal(joined.leader, id);
  assert.equal(joined.members.length, 1);
  assert.equal(group.state, "CompletingRebalance");
  const synced = await sync(group, id, 1, 2, { [id]: 9 });
  assert.deepEqual([...synced.assignment], [9]);
  assert.equal(group.state, "Stable");
});

Deno.test("ConsumerGroup rebalances when a second member joins, waiting for the first to rejoin", async () => {
  const group = new ConsumerGroup("g", SETTINGS);
  const a = await newMemberId(group, 0);
  const first = join(group, a, 0);
  group.tick(100);
  await first.promise;
  await sync(group, a, 1, 0, { [a]: 1 });
  const b = await newMemberId(group, 10);
  const bJoin = join(group, b, 10);
  assert.equal(bJoin.answer, undefined, "b waits for a to rejoin");
  assert.equal(group.state, "PreparingRebalance");
  assert.equal(group.heartbeat(a, 1, 20), ErrorCode.REBALANCE_IN_PROGRESS);
  const aJoin = await join(group, a, 30).promise;
  const bJoined = await bJoin.promise;
  assert.equal(aJoin.generationId, 2);
  assert.equal(bJoined.generationId, 2);
  assert.equal(aJoin.leader, a, "the previous leader stays leader");
  assert.equal(aJoin.members.length, 2);
  assert.equal(bJoined.members.length, 0, "followers get no member list");
  const bSync = sync(group, b, 2, 40);
  const aSync = await sync(group, a, 2, 41, { [a]: 1, [b]: 2 });
  assert.deepEqual([...aSync.assignment], [1]);
  assert.deepEqual([...(await bSync).assignment], [2]);
});

Deno.test("ConsumerGroup evicts a member that misses its session timeout and rebalances the rest", async () => {
  const group = new ConsumerGroup("g", SETTINGS);
  const a = await newMemberId(group, 0);
  const b = await newMemberId(group, 0);
  const [aJoined] = await joinBoth(group, a, b);
  const leader = aJoined.leader;
  const follower = leader === a ? b : a;
  const followerSync = sync(group, follower, 1, 0);
  await sync(group, leader, 1, 0, { [a]: 1, [b]: 2 });
  await followerSync;
  // Only the leader keeps heartbeating.
  for (let t = 200; t <= 1200; t += 200) {
    assert.equal(group.heartbeat(leader, 1, t), ErrorCode.NONE);
  }
  group.tick(1201);
  assert.equal(group.members.has(follower), false, "the silent member is gone");
  assert.equal(group.state, "PreparingRebalance");
  assert.ok(group.drainEvents().some((e) => e.kind === "member-evicted"));
  const rejoined = await join(group, leader, 1300).promise;
  assert.equal(rejoined.generationId, 2);
  assert.equal(rejoined.members.length, 1);
});

Deno.test("ConsumerGroup removes a leaving member and completes the rebalance with the others", async () => {
  const group = new ConsumerGroup("g", SETTINGS);
  const a = await newMemberId(group, 0);
  const b = await newMemberId(group, 0);
  await joinBoth(group, a, b);
  assert.equal(group.leave(b, 100), ErrorCode.NONE);
  assert.equal(group.state, "PreparingRebalance");
  const again = await join(group, a, 120).promise;
  assert.equal(again.generationId, 2);
  assert.deepEqual(again.members.map((m) => m.memberId), [a]);
  assert.equal(group.leave("nobody", 30), ErrorCode.UNKNOWN_MEMBER_ID);
});

Deno.test("ConsumerGroup drops members that do not rejoin within the rebalance timeout", async () => {
  const group = new ConsumerGroup("g", SETTINGS);
  const a = await newMemberId(group, 0);
  const b = await newMemberId(group, 0);
  await joinBoth(group, a, b);
  const c = await newMemberId(group, 100);
  const cJoin = join(group, c, 100);
  const aJoin = join(group, a, 150);
  // b stays alive (heartbeats) but never rejoins.
  for (const t of [900, 1800, 2700, 3600]) {
    assert.equal(group.heartbeat(b, 1, t), ErrorCode.REBALANCE_IN_PROGRESS);
  }
  group.tick(4000); // within the 5000 ms rebalance timeout: still waiting for b
  assert.equal(cJoin.answer, undefined);
  group.heartbeat(b, 1, 4500);
  group.tick(5200);
  assert.equal((await aJoin.promise).generationId, 2);
  assert.equal((await cJoin.promise).generationId, 2);
  assert.equal(group.members.has(b), false);
});

Deno.test("ConsumerGroup rejects a wrong generation, an unknown member and a protocol mismatch", async () => {
  const group = new ConsumerGroup("g", SETTINGS);
  const a = await newMemberId(group, 0);
  const first = join(group, a, 0);
  group.tick(100);
  await first.promise;
  assert.equal(group.heartbeat(a, 7, 1), ErrorCode.ILLEGAL_GENERATION);
  assert.equal(group.heartbeat("ghost", 1, 1), ErrorCode.UNKNOWN_MEMBER_ID);
  assert.equal((await sync(group, a, 5, 1)).errorCode, ErrorCode.ILLEGAL_GENERATION);
  const other = await new Promise<JoinGroupResponse>((resolve) =>
    group.join(
      {
        request: { ...joinRequest(""), protocols: [{ name: "other", metadata: META }] },
        clientId: "c",
        clientHost: "h",
        requireKnownMemberId: false,
      },
      2,
      resolve,
    )
  );
  assert.equal(other.errorCode, ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
});

/** A static member's join (group.instance.id set); resolves with the answer. */
function staticJoin(group: ConsumerGroup, memberId: string, instanceId: string, now: number) {
  return new Promise<JoinGroupResponse>((resolve) =>
    group.join(
      {
        request: { ...joinRequest(memberId, 30_000), groupInstanceId: instanceId },
        clientId: "c",
        clientHost: "h",
        requireKnownMemberId: true,
      },
      now,
      resolve,
    )
  );
}

/** Two static members, instances "ia" and "ib", in a Stable generation 1 with assignments 1 and 2. */
async function stableStaticPair(group: ConsumerGroup) {
  const aJoin = staticJoin(group, "", "ia", 0);
  const bJoin = staticJoin(group, "", "ib", 10);
  group.tick(60);
  const [a, b] = [await aJoin, await bJoin];
  assert.equal(a.errorCode, ErrorCode.NONE, "static members need no MEMBER_ID_REQUIRED round trip");
  const leader = a.leader === a.memberId ? a : b;
  const follower = leader === a ? b : a;
  const followerSync = sync(group, follower.memberId, 1, 20);
  await sync(group, leader.memberId, 1, 21, { [a.memberId]: 1, [b.memberId]: 2 });
  await followerSync;
  assert.equal(group.state, "Stable");
  return { a: a.memberId, b: b.memberId, leader: leader.memberId };
}

Deno.test("ConsumerGroup gives a restarted static member its partitions back without a rebalance", async () => {
  const group = new ConsumerGroup("g", SETTINGS);
  const { a, b, leader } = await stableStaticPair(group);
  // Instance "ia" restarts: it lost its member id, not its instance id.
  const rejoined = await staticJoin(group, "", "ia", 1000);
  assert.equal(rejoined.errorCode, ErrorCode.NONE);
  assert.notEqual(rejoined.memberId, a);
  assert.equal(rejoined.generationId, 1, "same generation: no rebalance");
  assert.equal(rejoined.leader, leader, "the old leader id, so nobody reassigns");
  assert.equal(group.state, "Stable");
  assert.equal(group.heartbeat(b, 1, 1001), ErrorCode.NONE, "the other member sees no rebalance");
  const synced = await sync(group, rejoined.memberId, 1, 1002);
  assert.deepEqual([...synced.assignment], [1], "the previous member's assignment");
  assert.equal(group.heartbeat(a, 1, 1003, "ia"), ErrorCode.FENCED_INSTANCE_ID);
  assert.equal(group.heartbeat(a, 1, 1003), ErrorCode.UNKNOWN_MEMBER_ID);
});

Deno.test("ConsumerGroup fences a static member's old member id and removes a static member by instance id", async () => {
  const group = new ConsumerGroup("g", SETTINGS);
  const { a, b } = await stableStaticPair(group);
  const rejoined = await staticJoin(group, "", "ib", 1000);
  const stale = await staticJoin(group, b, "ib", 1001);
  assert.equal(stale.errorCode, ErrorCode.FENCED_INSTANCE_ID);
  assert.equal(group.leave("", 1002, "ib"), ErrorCode.NONE);
  assert.equal(group.members.has(rejoined.memberId), false);
  assert.equal(group.state, "PreparingRebalance", "a static member that leaves rebalances");
  assert.equal(group.leave(a, 1003, "ib"), ErrorCode.UNKNOWN_MEMBER_ID, "ib is gone");
});
