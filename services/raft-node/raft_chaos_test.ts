// Chaos through the RaftAdmin API and CHAOS_* on real raft-node processes: partitions both
// ways, heal, runtime SetChaos, and exit-on-leader set by the environment or at runtime.
import assert from "node:assert/strict";
import { type ChaosState, type StatusResponse } from "@trading/proto/raft";
import { OrderStatus } from "@trading/proto/orders";
import { unary } from "@trading/shared/grpc";
import { longMode, tempDir, waitFor } from "@trading/testing";
import { RaftCluster } from "@trading/testing/raft-cluster";

const TIMING_ENV = { RAFT_TICK_MS: "10", RAFT_ELECTION_TICKS: "50", RAFT_HEARTBEAT_TICKS: "10" };

function order(orderId: string) {
  return {
    orderId,
    payload: new TextEncoder().encode(orderId),
    outcome: { status: OrderStatus.ORDER_STATUS_ACCEPTED, reason: "" },
    symbol: "ACME",
    positionDelta: 1,
    maxPosition: 0,
  };
}

function setChaos(
  cluster: RaftCluster,
  id: string,
  request: { enabled: boolean; profile: string; targetNodeId?: string; seed?: number },
): Promise<ChaosState> {
  const admin = cluster.admin(id);
  return unary(admin, admin.setChaos, { targetNodeId: "", seed: 0, ...request });
}

/** Waits until one of `among` leads (as it says itself) and returns its status. */
function waitForLeaderAmong(cluster: RaftCluster, among: string[]): Promise<StatusResponse> {
  return waitFor(`a leader among ${among.join(",")}`, async () => {
    for (const id of among) {
      const status = await cluster.status(id).catch(() => undefined);
      if (status?.role === "leader") return status;
    }
    return undefined;
  }, { timeoutMs: 15_000, intervalMs: 25 });
}

/**
 * Asks the leader to hand leadership to `target` until `target` leads or exits: a transfer
 * is aborted when its TimeoutNow is lost or the target is still catching up.
 */
async function leadershipTo(cluster: RaftCluster, target: string): Promise<void> {
  await waitFor(`leadership to move to node ${target}`, async () => {
    if (!cluster.node(target).process) return true;
    const leader = await cluster.waitForLeader();
    if (leader.nodeId === target) return true;
    await transferTo(cluster, leader.nodeId, target).catch(() => undefined);
    return !cluster.node(target).process ||
      (await cluster.status(target).catch(() => undefined))?.role === "leader";
  }, { timeoutMs: 20_000, intervalMs: 10 });
}

async function transferTo(cluster: RaftCluster, via: string, target: string) {
  const client = cluster.nodeClient(via);
  return await unary(client, client.transferLeadership, { targetNodeId: target }, {
    deadlineMs: 5000,
  });
}

Deno.test("RaftAdmin Partition cuts the leader off both ways, the others elect a leader, Heal brings it back as a follower", async () => {
  await using dir = await tempDir();
  await using cluster = await RaftCluster.start({ dir: dir.path, env: TIMING_ENV });
  try {
    const old = (await cluster.waitForLeader()).nodeId;
    const others = cluster.nodes.map((n) => n.id).filter((id) => id !== old);
    const admin = cluster.admin(old);
    const partitioned = await unary(admin, admin.partition, { peers: [] });
    assert.deepEqual(partitioned.partitionedFrom, ["*"]);

    const fresh = await waitForLeaderAmong(cluster, others);
    // Check-quorum: the isolated leader notices it lost its majority and steps down.
    await waitFor(
      "the isolated leader to step down",
      async () => (await cluster.status(old)).role !== "leader",
      { timeoutMs: 5000 },
    );
    const client = cluster.client({ deadlineMs: 1000 });
    const applied = await client.apply(order("during-partition"));
    assert.ok(applied.raftIndex > 0);
    const during = await unary(admin, admin.getChaos, {});
    assert.ok(Number(during.dropped) > 0, "the partition dropped messages");
    assert.equal((await cluster.status(old)).appliedIndex < applied.raftIndex, true);

    const healed = await unary(admin, admin.heal, {});
    assert.deepEqual(healed.partitionedFrom, []);
    const leader = await cluster.waitForLeader();
    assert.notEqual(leader.nodeId, old, "a healed node does not disrupt the new leader");
    await cluster.waitForApplied(old, applied.raftIndex);
    console.log(
      `leader ${old} partitioned, ${fresh.nodeId} took over in term ${fresh.term}; ${during.dropped} messages dropped`,
    );
    assert.deepEqual(cluster.unexpectedExits, [], "no node crashed");
  } catch (error) {
    console.log(cluster.tail(30));
    throw error;
  }
});

Deno.test("RaftAdmin SetChaos drop-pct=100 at runtime silences the leader until chaos is set off", async () => {
  await using dir = await tempDir();
  await using cluster = await RaftCluster.start({ dir: dir.path, env: TIMING_ENV });
  try {
    const old = (await cluster.waitForLeader()).nodeId;
    const state = await setChaos(cluster, old, {
      enabled: true,
      profile: "drop-pct=100",
      seed: 7,
    });
    assert.equal(state.enabled, true);
    assert.equal(state.dropPct, 100);
    assert.equal(state.profile, "drop-pct=100");
    const others = cluster.nodes.map((n) => n.id).filter((id) => id !== old);
    await waitForLeaderAmong(cluster, others);
    const client = cluster.client({ deadlineMs: 1000 });
    const applied = await client.apply(order("while-silenced"));

    const off = await setChaos(cluster, old, { enabled: false, profile: "off" });
    assert.equal(off.enabled, false);
    assert.ok(Number(off.dropped) > 0);
    // Back to normal: the old leader follows and catches up.
    await cluster.waitForLeader();
    await cluster.waitForApplied(old, applied.raftIndex);
    assert.deepEqual(cluster.unexpectedExits, [], "no node crashed");
  } catch (error) {
    console.log(cluster.tail(30));
    throw error;
  }
});

Deno.test("exit-on-leader, from CHAOS_EXIT_ON_LEADER or SetChaos, makes a node exit with code 3 when it becomes leader", async () => {
  await using dir = await tempDir();
  await using cluster = await RaftCluster.start({
    dir: dir.path,
    env: TIMING_ENV,
    nodeEnv: { "3": { CHAOS_EXIT_ON_LEADER: "true" } },
  });
  try {
    const leader = (await cluster.waitForLeader()).nodeId;
    assert.notEqual(leader, "3");
    const other = leader === "1" ? "2" : "1";

    // 1. Set by the environment: node 3 exits as soon as it wins.
    await leadershipTo(cluster, "3");
    assert.equal(await cluster.waitForExit("3"), 3);
    assert.ok(cluster.node("3").output.some((l) => l.includes("exit-on-leader")));
    await cluster.waitForLeader({ not: "3" });
    cluster.spawn("3", { CHAOS_EXIT_ON_LEADER: "false" });
    await cluster.waitForNode("3");

    // 2. Set, then lifted, at runtime: node `other` takes over and stays.
    const set = await setChaos(cluster, other, { enabled: false, profile: "exit-on-leader" });
    assert.equal(set.profile, "exit-on-leader");
    const lifted = await setChaos(cluster, other, { enabled: false, profile: "off" });
    assert.equal(lifted.profile, "off");
    await leadershipTo(cluster, other);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await cluster.status(other)).role, "leader");
    assert.ok(cluster.node(other).process, `node ${other} is still running`);

    // 3. Set at runtime: node 3 (restarted without the variable) exits once it wins.
    await setChaos(cluster, "3", { enabled: false, profile: "exit-on-leader" });
    await leadershipTo(cluster, "3");
    assert.equal(await cluster.waitForExit("3"), 3);
    assert.deepEqual(cluster.unexpectedExits, [], "no node crashed");
  } catch (error) {
    console.log(cluster.tail(30));
    throw error;
  }
});

Deno.test("raft-node keeps its leader and keeps applying under drop-pct=30,delay=50-250 on every node", async () => {
  await using dir = await tempDir();
  await using cluster = await RaftCluster.start({ dir: dir.path, env: TIMING_ENV });
  try {
    const leader = await cluster.waitForLeader();
    for (const node of cluster.nodes) {
      await setChaos(cluster, node.id, {
        enabled: true,
        profile: "drop-pct=30,delay=50-250",
        seed: 40 + Number(node.id),
      });
    }
    const client = cluster.client({ deadlineMs: 3000 });
    const seconds = longMode() ? 30 : 3;
    const end = Date.now() + seconds * 1000;
    let applied = 0;
    while (Date.now() < end) {
      await client.apply(order(`lossy-${applied}`));
      applied++;
    }
    const after = await cluster.statuses();
    const chaos = await unary(
      cluster.admin(leader.nodeId),
      cluster.admin(leader.nodeId).getChaos,
      {},
    );
    console.log(
      `${applied} applies in ${seconds} s under chaos; term ${leader.term} -> ${
        after.map((s) => s.term)
      }; ` +
        `leader dropped ${chaos.dropped}, delayed ${chaos.delayed} messages`,
    );
    assert.ok(applied >= 3, `only ${applied} applies went through`);
    assert.ok(Number(chaos.dropped) > 0 && Number(chaos.delayed) > 0);
    assert.deepEqual(after.map((s) => s.term), after.map(() => leader.term), "no election");
    assert.deepEqual(cluster.unexpectedExits, [], "no node crashed");
  } catch (error) {
    console.log(cluster.tail(30));
    throw error;
  }
});
