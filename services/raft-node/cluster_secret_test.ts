/**
 * A raft-node started with CLUSTER_SECRET refuses every gRPC call that does not present it:
 * the admin calls (RaftAdmin's SetChaos, Partition, Heal; RaftNode's Join, Leave,
 * TransferLeadership), Apply on its fast path, and the reads; health stays open. A node
 * bound beyond loopback does not start without a secret.
 */
import assert from "node:assert/strict";
import { OrderStatus } from "@trading/proto/orders";
import { RaftAdminClient, RaftNodeClient } from "@trading/proto/raft";
import { grpc, insecure, isGrpcStatus, unary, withClusterSecret } from "@trading/shared/grpc";
import { RAFT_CHANNEL_OPTIONS } from "@trading/shared/raft-client";
import { freePort, tempDir } from "@trading/testing";
import { RoleProcess } from "@trading/testing";

const SECRET = "raft-test-cluster-secret-0123456789";

const unauthenticated = (error: unknown) => isGrpcStatus(error, grpc.status.UNAUTHENTICATED);

Deno.test({
  name: "raft-node with CLUSTER_SECRET refuses admin calls, Apply and reads without the secret",
  sanitizeOps: false, // grpc-js keeps timers after close
  sanitizeResources: false,
  async fn() {
    await using dir = await tempDir();
    const grpcPort = freePort();
    await using node = RoleProcess.spawn("raft-node", {
      RAFT_NODE_ID: "raft-1",
      RAFT_BOOTSTRAP: "true",
      RAFT_BIND_ADDR: `127.0.0.1:${freePort()}`,
      RAFT_DATA_DIR: dir.path,
      PORT_GRPC: String(grpcPort),
      CLUSTER_SECRET: SECRET,
    });
    await node.ready();
    const address = `127.0.0.1:${grpcPort}`;
    // Whatever this test process's environment holds, these send no secret.
    const bare = { ...RAFT_CHANNEL_OPTIONS, interceptors: [] };
    const admin = new RaftAdminClient(address, insecure(), bare);
    const raft = new RaftNodeClient(address, insecure(), bare);
    const trusted = withClusterSecret(SECRET, RAFT_CHANNEL_OPTIONS);
    const trustedAdmin = new RaftAdminClient(address, insecure(), trusted);
    const trustedRaft = new RaftNodeClient(address, insecure(), trusted);
    const apply = {
      orderId: "order-1",
      payload: new Uint8Array([1]),
      outcome: { status: OrderStatus.ORDER_STATUS_ACCEPTED, reason: "" },
      symbol: "AAA",
      positionDelta: 0,
      maxPosition: 0,
    };
    try {
      const refusedBefore = await node.metric("grpc_calls_refused_total");
      const calls: Array<[string, () => Promise<unknown>]> = [
        ["SetChaos", () =>
          unary(admin, admin.setChaos, {
            enabled: true,
            profile: "drop-pct=100",
            targetNodeId: "",
            seed: 1,
          })],
        ["Partition", () => unary(admin, admin.partition, { peers: [] })],
        ["Heal", () => unary(admin, admin.heal, {})],
        ["GetChaos", () => unary(admin, admin.getChaos, {})],
        [
          "Join",
          () =>
            unary(raft, raft.join, { nodeId: "evil", raftAddr: "10.0.0.9:7000", grpcAddr: "x:1" }),
        ],
        ["Leave", () => unary(raft, raft.leave, { nodeId: "raft-1" })],
        ["TransferLeadership", () => unary(raft, raft.transferLeadership, { targetNodeId: "x" })],
        ["Apply", () => unary(raft, raft.apply, apply)],
        ["ApplyBatch", () => unary(raft, raft.applyBatch, { requests: [apply] })],
        ["Read", () => unary(raft, raft.read, { orderId: "order-1", stale: true })],
        ["Status", () => unary(raft, raft.status, {})],
      ];
      for (const [name, call] of calls) {
        await assert.rejects(call, unauthenticated, `${name} without the secret`);
      }
      assert.equal(
        await node.metric("grpc_calls_refused_total"),
        refusedBefore + calls.length,
        "every refused call is counted",
      );
      // Nothing of the refused calls happened.
      const chaos = await unary(trustedAdmin, trustedAdmin.getChaos, {});
      assert.equal(chaos.enabled, false);
      assert.deepEqual(chaos.partitionedFrom, []);
      const status = await unary(trustedRaft, trustedRaft.status, {});
      assert.deepEqual(status.members.map((m) => m.nodeId), ["raft-1"]);
      assert.equal(status.orders, 0);
      // With the secret, the same calls are served.
      const applied = await unary(trustedRaft, trustedRaft.apply, apply);
      assert.equal(applied.raftIndex > 0, true);
      const set = await unary(trustedAdmin, trustedAdmin.setChaos, {
        enabled: false,
        profile: "off",
        targetNodeId: "",
        seed: 1,
      });
      assert.equal(set.enabled, false);
    } finally {
      for (const client of [admin, raft, trustedAdmin, trustedRaft]) client.close();
    }
  },
});

Deno.test("raft-node bound beyond loopback exits 2 without CLUSTER_SECRET", async () => {
  const result = await RoleProcess.run("raft-node", [], {
    RAFT_NODE_ID: "raft-1",
    RAFT_BIND_ADDR: "0.0.0.0:7000",
    PORT_HTTP: String(freePort()),
    CLUSTER_SECRET: "",
  });
  assert.equal(result.code, 2);
  assert.equal(
    result.stderr.trim(),
    'Missing CLUSTER_SECRET: expected a secret when RAFT_BIND_ADDR "0.0.0.0" is not a loopback address',
  );
});
