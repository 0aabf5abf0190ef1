// Real processes: three `deno run -A main.ts raft-node` children on free loopback ports with
// their own data directories, driven over gRPC exactly as the order-executor drives them.
import assert from "node:assert/strict";
import {
  type ApplyRequest,
  type ApplyResponse,
  ApplyResult,
  type ReadResponse,
} from "@trading/proto/raft";
import { OrderStatus } from "@trading/proto/orders";
import { unary } from "@trading/shared/grpc";
import type { RaftClient } from "@trading/shared/raft-client";
import { longMode, tempDir } from "@trading/testing";
import { checkLinearizable } from "@trading/testing/linearizability";
import { HistoryRecorder } from "@trading/testing/history-recorder";
import { RaftCluster } from "@trading/testing/raft-cluster";

const TICK_MS = 10;
const ELECTION_TICKS = 50;
/** The election timeout of the nodes under test (the randomized one lies in [1x, 2x)). */
const ELECTION_TIMEOUT_MS = TICK_MS * ELECTION_TICKS;
const TIMING_ENV = {
  RAFT_TICK_MS: String(TICK_MS),
  RAFT_ELECTION_TICKS: String(ELECTION_TICKS),
  RAFT_HEARTBEAT_TICKS: "10",
};

const encoder = new TextEncoder();
const ACCEPTED = { status: OrderStatus.ORDER_STATUS_ACCEPTED, reason: "" };

function order(orderId: string, payload = `payload of ${orderId}`, reason = ""): ApplyRequest {
  return {
    orderId,
    payload: encoder.encode(payload),
    outcome: reason === "" ? ACCEPTED : { status: OrderStatus.ORDER_STATUS_REJECTED, reason },
    symbol: "ACME",
    positionDelta: 1,
    maxPosition: 0,
  };
}

/** mulberry32, for the workers' choices (the seed is printed with any failure). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(Deno.env.get("RAFT_TEST_SEED") ?? Date.now() % 1_000_000);

/**
 * A client that applies new orders, re-applies old ones (same payload: duplicate; other
 * payload: conflict) and reads, one call at a time, recording every call in `history`.
 */
async function runWorker(
  id: number,
  cluster: RaftCluster,
  history: HistoryRecorder,
  acked: Map<string, ApplyResponse>,
  shared: string[],
  stop: AbortSignal,
): Promise<number> {
  const random = seeded(SEED * 100 + id);
  let current: ApplyRequest | undefined;
  const client: RaftClient = cluster.client({
    deadlineMs: 1000,
    maxAttempts: 200,
    onCall: history.hook(id, () => current),
  });
  const mine: string[] = [];
  let operations = 0;
  while (!stop.aborted) {
    const dice = random();
    operations++;
    if (dice < 0.15 && shared.length > 0) {
      await client.read(shared[Math.floor(random() * shared.length)]!);
      continue;
    }
    if (dice < 0.3 && mine.length > 0) {
      const old = mine[Math.floor(random() * mine.length)]!;
      // Half of the re-applies change the payload: the store must answer CONFLICT.
      current = order(old, random() < 0.5 ? `payload of ${old}` : `other payload ${operations}`);
    } else {
      const orderId = `w${id}-${operations}`;
      current = order(orderId, `payload of ${orderId}`, random() < 0.2 ? "max_notional" : "");
      mine.push(orderId);
    }
    try {
      const response = await client.apply(current);
      if (!acked.has(current.orderId)) acked.set(current.orderId, response);
      shared.push(current.orderId);
    } catch (error) {
      if (!stop.aborted) throw error;
    }
  }
  return operations;
}

/** Applies fresh orders on every running node until one succeeds; returns ms since `from`. */
async function timeToFirstApply(cluster: RaftCluster, from: number): Promise<number> {
  for (let n = 0;; n++) {
    const running = cluster.nodes.filter((node) => node.process);
    const attempts = running.map(async (node) => {
      const client = cluster.nodeClient(node.id);
      const response = await unary(client, client.apply, order(`probe-${n}-${node.id}`), {
        deadlineMs: 300,
      });
      if (response.result !== ApplyResult.APPLY_RESULT_APPLIED) throw new Error("not leader");
    });
    const results = await Promise.allSettled(attempts);
    if (results.some((r) => r.status === "fulfilled")) return performance.now() - from;
    if (performance.now() - from > 20_000) throw new Error("No Apply succeeded within 20 s");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test({
  name:
    "raft-node cluster redirects from followers, survives a leader SIGKILL, loses no acknowledged Apply, and its history is linearizable",
  async fn() {
    console.log(
      `seed ${SEED} (replay: RAFT_TEST_SEED=${SEED} deno test -A ${import.meta.filename})`,
    );
    await using dir = await tempDir();
    await using cluster = await RaftCluster.start({ dir: dir.path, env: TIMING_ENV });
    try {
      const leader = await cluster.waitForLeader();
      const follower = cluster.nodes.find((n) => n.id !== leader.nodeId)!;
      const leaderNode = cluster.node(leader.nodeId);

      // A follower names the leader instead of serving.
      const followerClient = cluster.nodeClient(follower.id);
      const redirect = await unary(followerClient, followerClient.apply, order("redirected"));
      assert.equal(redirect.result, ApplyResult.APPLY_RESULT_NOT_LEADER);
      assert.equal(redirect.leaderId, leader.nodeId);
      assert.equal(redirect.leaderAddr, leaderNode.grpcAddr);
      const readRedirect: ReadResponse = await unary(followerClient, followerClient.read, {
        orderId: "redirected",
        stale: false,
      });
      assert.equal(readRedirect.notLeader, true);
      assert.equal(readRedirect.leaderAddr, leaderNode.grpcAddr);

      // Load with a recorded history, a leader SIGKILL in the middle.
      const history = new HistoryRecorder();
      const acked = new Map<string, ApplyResponse>();
      const shared: string[] = [];
      const stop = new AbortController();
      const workers = Array.from(
        { length: 6 },
        (_, i) => runWorker(i, cluster, history, acked, shared, stop.signal),
      );
      const phaseMs = longMode() ? 10_000 : 1500;
      await new Promise((resolve) => setTimeout(resolve, phaseMs));
      const before = acked.size;
      const killedAt = performance.now();
      await cluster.kill(leader.nodeId);
      const failoverMs = await timeToFirstApply(cluster, killedAt);
      const newLeader = await cluster.waitForLeader();
      console.log(
        `failover: ${
          Math.round(failoverMs)
        } ms from SIGKILL of node ${leader.nodeId} to the first successful Apply ` +
          `(new leader ${newLeader.nodeId}; election timeout ${ELECTION_TIMEOUT_MS} ms; failover is measured by deno task bench raft)`,
      );
      await new Promise((resolve) => setTimeout(resolve, phaseMs));
      stop.abort();
      const operations = await Promise.all(workers);
      assert.ok(acked.size > before, "applies continued after the failover");

      // Every acknowledged Apply is there, with the outcome it was acknowledged with.
      const reader = cluster.client();
      for (const [orderId, response] of acked) {
        const read = await reader.read(orderId);
        assert.equal(read.found, true, `acknowledged order ${orderId} is lost`);
        assert.deepEqual(read.outcome, response.outcome, `outcome of ${orderId}`);
        assert.equal(read.raftIndex, response.raftIndex, `raft index of ${orderId}`);
      }

      const result = checkLinearizable(history.operations);
      const counts = history.summary();
      console.log(
        `history: ${counts.applies} applies, ${counts.open} uncertain, ${counts.reads} reads over ${result.partitions} order ids ` +
          `(${
            operations.reduce((a, b) => a + b, 0)
          } client operations); ${acked.size} orders acknowledged`,
      );
      assert.ok(result.ok, result.ok ? "" : result.explanation);
      assert.ok(counts.applies > 50, "enough applies to mean something");
      assert.deepEqual(cluster.unexpectedExits, [], "no node crashed");
    } catch (error) {
      console.log(cluster.tail(40));
      throw error;
    }
  },
});

Deno.test("raft-node keeps de-duplication across restarts and leader changes", async () => {
  await using dir = await tempDir();
  await using cluster = await RaftCluster.start({ dir: dir.path, env: TIMING_ENV });
  try {
    const client = cluster.client({ deadlineMs: 2000 });
    const first = new Map<string, ApplyResponse>();
    for (let i = 0; i < 20; i++) {
      const request = order(`d-${i}`, `payload ${i}`, i % 3 === 0 ? `rule-${i}` : "");
      const response = await client.apply(request);
      assert.equal(response.result, ApplyResult.APPLY_RESULT_APPLIED);
      first.set(request.orderId, response);
    }
    const expectDuplicates = async (when: string) => {
      for (let i = 0; i < 20; i++) {
        const response = await client.apply(order(`d-${i}`, `payload ${i}`));
        const original = first.get(`d-${i}`)!;
        // DUPLICATE; or APPLIED with the stored record, when an attempt to a restarting node
        // was uncertain and the client's Read found the record (RaftClient.apply). Either way
        // the first index and outcome, which is what de-duplication promises.
        assert.ok(
          response.result === ApplyResult.APPLY_RESULT_DUPLICATE ||
            response.result === ApplyResult.APPLY_RESULT_APPLIED,
          `d-${i} ${when}: ${ApplyResult[response.result]}`,
        );
        assert.deepEqual(response.outcome, original.outcome, `first outcome of d-${i} ${when}`);
        assert.equal(response.raftIndex, original.raftIndex, `first index of d-${i} ${when}`);
        const conflict = await client.apply(order(`d-${i}`, `changed payload ${i}`));
        assert.equal(conflict.result, ApplyResult.APPLY_RESULT_CONFLICT, `d-${i} ${when}`);
        assert.deepEqual(conflict.outcome, original.outcome);
      }
    };
    await expectDuplicates("before any restart");

    // ApplyBatch answers each order exactly as Apply would, in order, in one call.
    const batch = await client.applyBatch([
      order("b-new", "payload b"),
      order("d-1", "payload 1"),
      order("d-2", "another payload"),
      order("b-new", "payload b"),
      order("b-rejected", "payload r", "max_notional"),
    ]);
    assert.deepEqual(batch.map((r) => ApplyResult[r.result]), [
      "APPLY_RESULT_APPLIED",
      "APPLY_RESULT_DUPLICATE",
      "APPLY_RESULT_CONFLICT",
      "APPLY_RESULT_DUPLICATE",
      "APPLY_RESULT_APPLIED",
    ]);
    assert.equal(batch[1]!.raftIndex, first.get("d-1")!.raftIndex);
    assert.deepEqual(batch[2]!.outcome, first.get("d-2")!.outcome);
    assert.equal(batch[3]!.raftIndex, batch[0]!.raftIndex, "a repeated id keeps its first index");
    assert.equal(batch[4]!.outcome?.reason, "max_notional");
    assert.ok(batch[4]!.raftIndex > batch[0]!.raftIndex, "one entry per order, in order");
    first.set("b-new", batch[0]!);
    assert.equal(
      (await client.apply(order("b-new", "payload b"))).result,
      ApplyResult.APPLY_RESULT_DUPLICATE,
    );

    // Leadership moves by request (TimeoutNow).
    const leader = await cluster.waitForLeader();
    const target = cluster.nodes.find((n) => n.id !== leader.nodeId)!.id;
    const leaderClient = cluster.nodeClient(leader.nodeId);
    const transfer = await unary(leaderClient, leaderClient.transferLeadership, {
      targetNodeId: target,
    });
    assert.equal(transfer.accepted, true, transfer.message);
    assert.equal((await cluster.waitForLeader()).nodeId, target);
    await expectDuplicates("after a leadership transfer");

    // A graceful stop of the leader hands leadership over; SIGKILL of everything, then a
    // restart from disk alone.
    await cluster.kill(target, "SIGTERM");
    assert.equal(cluster.node(target).exitCode, 0);
    assert.ok(
      cluster.node(target).output.some((line) => line.includes("leadership transferred")),
      "the stopping leader transferred leadership",
    );
    await cluster.waitForLeader({ not: target });
    for (const node of cluster.nodes) await cluster.kill(node.id, "SIGKILL");
    for (const node of cluster.nodes) cluster.spawn(node.id);
    await cluster.waitForLeader({ timeoutMs: 20_000 });
    await expectDuplicates("after every node restarted from disk");
    assert.deepEqual(cluster.unexpectedExits, [], "no node crashed");
  } catch (error) {
    console.log(cluster.tail(40));
    throw error;
  }
});

Deno.test("raft-node brings a node that was down past a snapshot up to date by InstallSnapshot", async () => {
  await using dir = await tempDir();
  await using cluster = await RaftCluster.start({
    dir: dir.path,
    env: { ...TIMING_ENV, RAFT_SNAPSHOT_ENTRIES: "40", RAFT_SNAPSHOT_RETAIN: "5" },
  });
  try {
    const client = cluster.client({ deadlineMs: 2000 });
    const ids: string[] = [];
    const applyMany = async (prefix: string, count: number) => {
      const batch = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
      ids.push(...batch);
      for (let i = 0; i < batch.length; i += 8) {
        await Promise.all(batch.slice(i, i + 8).map((id) => client.apply(order(id, `p ${id}`))));
      }
    };
    await applyMany("early", 10);
    const leader = await cluster.waitForLeader();
    const lagging = cluster.nodes.find((n) => n.id !== leader.nodeId)!;
    const lastBeforeDown = (await cluster.status(lagging.id)).lastIndex;
    await cluster.kill(lagging.id);
    await applyMany("late", 200);
    const leaderStatus = await cluster.status(leader.nodeId);
    assert.ok(
      leaderStatus.snapshotIndex > lastBeforeDown + 5,
      `leader snapshot ${leaderStatus.snapshotIndex} is past the lagging node's log (${lastBeforeDown})`,
    );
    // Snapshots keep coming as the log grows (every max(RAFT_SNAPSHOT_ENTRIES, orders at the
    // last snapshot) entries: about 40, 80 and 160 here), not only once.
    const taken = Number(
      /^raft_snapshots_taken_total\{[^}]*\} (\d+)/m.exec(await cluster.metrics(leader.nodeId))
        ?.[1] ??
        0,
    );
    assert.ok(taken >= 3, `the leader took ${taken} snapshots, expected at least 3`);
    assert.ok(
      leaderStatus.snapshotIndex >= 120,
      `leader snapshot at ${leaderStatus.snapshotIndex}`,
    );

    cluster.spawn(lagging.id);
    const caughtUp = await cluster.waitForApplied(lagging.id, leaderStatus.commitIndex);
    const metrics = await cluster.metrics(lagging.id);
    const installed = Number(/^raft_snapshots_installed\{[^}]*\} (\d+)/m.exec(metrics)?.[1] ?? 0);
    assert.ok(installed >= 1, `raft_snapshots_installed is ${installed}, expected at least 1`);
    assert.ok(lagging.output.some((line) => line.includes("installed a snapshot")));
    assert.equal(caughtUp.orders, (await cluster.status(leader.nodeId)).orders);
    // Its own table (stale reads: no ReadIndex) holds exactly what the leader acknowledged.
    const laggingClient = cluster.nodeClient(lagging.id);
    for (const orderId of ids) {
      const local = await unary(laggingClient, laggingClient.read, { orderId, stale: true });
      const authoritative = await client.read(orderId);
      assert.equal(local.found, true, `${orderId} on the caught-up node`);
      assert.deepEqual(local.outcome, authoritative.outcome);
      assert.equal(local.raftIndex, authoritative.raftIndex);
    }
    console.log(
      `node ${lagging.id} caught up to ${caughtUp.appliedIndex} from a snapshot at ${leaderStatus.snapshotIndex} (${installed} installed)`,
    );
    assert.deepEqual(cluster.unexpectedExits, [], "no node crashed");
  } catch (error) {
    console.log(cluster.tail(40));
    throw error;
  }
});

Deno.test("raft-node replicates and fails over with the unary transport RPCs instead of streams", async () => {
  await using dir = await tempDir();
  await using cluster = await RaftCluster.start({
    dir: dir.path,
    // The unary mode is the gRPC transport's, whatever RAFT_TRANSPORT this environment has.
    env: { ...TIMING_ENV, RAFT_TRANSPORT: "grpc", RAFT_TRANSPORT_STREAM: "false" },
  });
  try {
    const client = cluster.client({ deadlineMs: 2000 });
    for (let i = 0; i < 30; i++) await client.apply(order(`u-${i}`));
    const leader = await cluster.waitForLeader();
    await cluster.kill(leader.nodeId);
    const fresh = await cluster.waitForLeader({ not: leader.nodeId });
    for (let i = 30; i < 60; i++) await client.apply(order(`u-${i}`));
    for (let i = 0; i < 60; i++) assert.equal((await client.read(`u-${i}`)).found, true);
    const follower = cluster.nodes.find((n) => n.process && n.id !== fresh.nodeId)!;
    const metrics = await cluster.metrics(follower.id);
    assert.match(metrics, /^raft_transport_unary_received\{[^}]*\} [1-9]/m);
    assert.deepEqual(cluster.unexpectedExits, [], "no node crashed");
  } catch (error) {
    console.log(cluster.tail(30));
    throw error;
  }
});

Deno.test("raft-node Join is idempotent for a member, forwarded by followers, and Leave removes a member", async () => {
  await using dir = await tempDir();
  await using cluster = await RaftCluster.start({ dir: dir.path, env: TIMING_ENV });
  try {
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.find((n) => n.id !== leader.nodeId)!;
    const leaving = cluster.nodes.find((n) => n.id !== leader.nodeId && n.id !== follower.id)!;
    const viaFollower = cluster.nodeClient(follower.id);
    // Joining again with the same addresses (a restarted node, say): accepted as it is.
    const again = await unary(viaFollower, viaFollower.join, {
      nodeId: leaving.id,
      raftAddr: leaving.raftAddr,
      grpcAddr: leaving.grpcAddr,
    });
    assert.equal(again.accepted, true, again.message);
    assert.match(again.message, /already a member/);
    // Other addresses for a member are refused (the core has no address update).
    const moved = await unary(viaFollower, viaFollower.join, {
      nodeId: leaving.id,
      raftAddr: "127.0.0.1:1",
      grpcAddr: "127.0.0.1:2",
    });
    assert.equal(moved.accepted, false);

    const left = await unary(viaFollower, viaFollower.leave, { nodeId: leaving.id });
    assert.equal(left.accepted, true, left.message);
    const status = await cluster.status(leader.nodeId);
    assert.deepEqual(
      status.members.map((m) => m.nodeId).sort(),
      [leader.nodeId, follower.id].sort(),
    );
    // Two voters remain and still commit.
    const client = cluster.client({ deadlineMs: 2000 });
    assert.equal(
      (await client.apply(order("after-leave"))).result,
      ApplyResult.APPLY_RESULT_APPLIED,
    );
    assert.deepEqual(cluster.unexpectedExits, [], "no node crashed");
  } catch (error) {
    console.log(cluster.tail(30));
    throw error;
  }
});

Deno.test("raft-node refuses to start on bad configuration with exit code 2 and one line", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--frozen",
      new URL("../../main.ts", import.meta.url).pathname,
      "raft-node",
    ],
    env: { RAFT_NODE_ID: "1", RAFT_BIND_ADDR: "nowhere", TRADING_SUPERVISED: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 2);
  const stderr = new TextDecoder().decode(output.stderr).trim();
  assert.equal(stderr, 'Invalid RAFT_BIND_ADDR "nowhere": expected host:port');
});
