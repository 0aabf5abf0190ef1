/**
 * A raft-node process against a peer that holds the cluster secret but sends what no honest
 * member would: a snapshot that does not decode, an entry whose command does not decode,
 * terms that cannot be real, messages from outside the configuration. The node refuses and
 * counts them, skips the undecodable entry, keeps serving, and starts again on its data.
 */
import assert from "node:assert/strict";
import { OrderStatus } from "@trading/proto/orders";
import { RaftNodeClient } from "@trading/proto/raft";
import { insecure, unary, withClusterSecret } from "@trading/shared/grpc";
import { RAFT_CHANNEL_OPTIONS } from "@trading/shared/raft-client";
import { freePort, RoleProcess, tempDir, waitFor } from "@trading/testing";
import { encodeConfState } from "./core/conf_state.ts";
import type { Message } from "./core/types.ts";
import { encodeMemberAddresses } from "./member_addresses.ts";
import { encodeCommand } from "./state_machine.ts";
import { Chaos } from "./transport/chaos.ts";
import { loadConfig } from "@trading/shared/config";
import { raftNodeEnv } from "./config.ts";
import { createPeerTransport } from "./transport/peer_transport.ts";

const SECRET = "hostile-peer-test-secret-0123456789";
const VICTIM = "raft-v";
const FORGER = "raft-f";
/** The peer transport the node runs (RAFT_TRANSPORT of this environment, or the default). */
const TRANSPORT = loadConfig({ RAFT_TRANSPORT: raftNodeEnv.RAFT_TRANSPORT }).RAFT_TRANSPORT;

async function healthy(node: RoleProcess): Promise<void> {
  await waitFor("raft-node serving /healthz", async () => {
    const response = await fetch(`http://127.0.0.1:${node.httpPort}/healthz`).catch(() => null);
    await response?.body?.cancel();
    return response?.status === 200;
  }, { timeoutMs: 30_000 });
}

Deno.test({
  name:
    "raft-node refuses and counts forged peer messages, skips an undecodable entry, and restarts",
  sanitizeOps: false, // grpc-js keeps timers after close
  sanitizeResources: false,
  async fn() {
    await using dir = await tempDir();
    const raftAddr = `127.0.0.1:${freePort()}`;
    const grpcPort = freePort();
    const env = {
      RAFT_NODE_ID: VICTIM,
      RAFT_BIND_ADDR: raftAddr,
      RAFT_DATA_DIR: dir.path,
      PORT_GRPC: String(grpcPort),
      CLUSTER_SECRET: SECRET,
      RAFT_TRANSPORT: TRANSPORT,
    };
    const forgerAddr = `127.0.0.1:${freePort()}`;
    const forger = createPeerTransport(TRANSPORT, {
      nodeId: FORGER,
      bindAddr: forgerAddr,
      advertiseAddr: forgerAddr,
      chaos: new Chaos(FORGER),
      clusterSecret: SECRET,
      onMessage: () => {},
    });
    await forger.start();
    forger.setPeers(new Map([[VICTIM, raftAddr]]));
    const raft = new RaftNodeClient(
      `127.0.0.1:${grpcPort}`,
      insecure(),
      withClusterSecret(SECRET, RAFT_CHANNEL_OPTIONS),
    );
    const refused = (node: RoleProcess, reason: string) =>
      node.metric(`raft_messages_refused_total{reason="${reason}"`);
    let node = RoleProcess.spawn("raft-node", env);
    try {
      await healthy(node);
      // 1. A node that has not joined takes a leader's snapshot: this one does not decode.
      const junkSnapshot: Message = {
        type: "installSnapshot",
        from: FORGER,
        to: VICTIM,
        term: 1,
        lastIncludedIndex: 10,
        lastIncludedTerm: 1,
        configuration: encodeConfState({ voters: [FORGER, VICTIM], learners: [], context: {} }),
        data: new TextEncoder().encode("not a snapshot"),
      };
      // Sent again at every look: the first ones may leave before the stream is open.
      const sendUntil = (what: string, messages: Message[], done: () => Promise<boolean>) =>
        waitFor(what, async () => {
          forger.send(messages);
          return await done();
        }, { timeoutMs: 20_000, intervalMs: 200 });
      await sendUntil(
        "the snapshot refused",
        [junkSnapshot],
        async () => await refused(node, "snapshot-invalid") >= 1,
      );

      // 2. Entries: a membership, a command that does not decode, a valid command; committed.
      const conf = encodeConfState({
        voters: [FORGER, VICTIM],
        learners: [],
        context: {
          [FORGER]: encodeMemberAddresses({ raft: forgerAddr, grpc: "127.0.0.1:1" }),
          [VICTIM]: encodeMemberAddresses({ raft: raftAddr, grpc: `127.0.0.1:${grpcPort}` }),
        },
      });
      const order = encodeCommand({
        orderId: "order-1",
        payloadHash: new Uint8Array(16),
        outcome: { status: OrderStatus.ORDER_STATUS_ACCEPTED, reason: "" },
        symbol: "AAA",
        positionDelta: 1,
        maxPosition: 0,
      });
      const entries: Message = {
        type: "appendEntries",
        from: FORGER,
        to: VICTIM,
        term: 1,
        prevLogIndex: 0,
        prevLogTerm: 0,
        entries: [
          { index: 1, term: 1, type: 1, data: conf },
          { index: 2, term: 1, type: 0, data: new Uint8Array([0xff, 0x01, 0x02]) },
          { index: 3, term: 1, type: 0, data: order },
        ],
        leaderCommit: 3,
        context: new Uint8Array(),
      };
      await sendUntil("entry 3 applied", [entries], async () => {
        const status = await unary(raft, raft.status, {});
        return status.appliedIndex >= 3;
      });
      const applied = await unary(raft, raft.status, {});
      assert.equal(applied.orders, 1, "the valid command after the undecodable one is applied");
      assert.equal(await node.metric("raft_entries_undecodable_total"), 1);

      // 3. Now a member: terms that cannot be real, and a stranger.
      const vote = (term: number, transfer: boolean): Message => ({
        type: "requestVote",
        from: FORGER,
        to: VICTIM,
        term,
        lastLogIndex: 3,
        lastLogTerm: 1,
        preVote: false,
        transfer,
      });
      await sendUntil(
        "the term jumps refused",
        [vote(2 ** 53 - 1, true), vote(1 + 5, true), vote(3_000_000, false)],
        async () =>
          await refused(node, "term-jump") >= 2 && await refused(node, "transfer-term") >= 1,
      );
      const stranger = createPeerTransport(TRANSPORT, {
        nodeId: "raft-x",
        bindAddr: `127.0.0.1:${freePort()}`,
        advertiseAddr: "127.0.0.1:1",
        chaos: new Chaos("raft-x"),
        clusterSecret: SECRET,
        onMessage: () => {},
      });
      await stranger.start();
      stranger.setPeers(new Map([[VICTIM, raftAddr]]));
      await waitFor("the stranger refused", async () => {
        stranger.send([{ ...vote(2, false), from: "raft-x" }]);
        return await refused(node, "not-member") >= 1;
      }, { timeoutMs: 20_000, intervalMs: 200 });
      await stranger.close();
      const status = await unary(raft, raft.status, {});
      assert.equal(status.term, 1, "no refused term was adopted");

      // 4. It starts again on the same data, and skips the same entry again.
      node.kill("SIGKILL");
      await node.exited();
      node = RoleProcess.spawn("raft-node", env);
      const restarted = node;
      await healthy(restarted);
      const again = await waitFor("entry 3 applied after the restart", async () => {
        const s = await unary(raft, raft.status, {}).catch(() => undefined);
        return s && s.appliedIndex >= 3 ? s : undefined;
      });
      assert.equal(again.orders, 1);
      assert.equal(await restarted.metric("raft_entries_undecodable_total"), 1);
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : error}\n${node.tail()}`);
    } finally {
      raft.close();
      await forger.close();
      await node[Symbol.asyncDispose]();
    }
  },
});
