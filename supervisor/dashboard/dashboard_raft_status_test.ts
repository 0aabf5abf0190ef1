import assert from "node:assert/strict";
import {
  leaderOf,
  type RaftNodeView,
  RaftStatusPoller,
  unknownNode,
} from "./dashboard_raft_status.ts";
import { freePort } from "@trading/testing";

function node(name: string, role: string | null, term: number | null, leaderId = ""): RaftNodeView {
  return {
    ...unknownNode({ name, address: "" }, null),
    reachable: role !== null,
    nodeId: role === null ? null : name,
    role,
    term,
    leaderId: leaderId || null,
  };
}

Deno.test("leaderOf() ignores a deposed leader that has not seen the new term", () => {
  const view = leaderOf([
    node("raft-1", "leader", 3),
    node("raft-2", "leader", 4),
    node("raft-3", "follower", 4, "raft-2"),
  ]);
  assert.deepEqual(view, { leader: "raft-2", term: 4 });
});

Deno.test("leaderOf() names the leader the followers agree on when the leader is unreachable", () => {
  const view = leaderOf([
    node("raft-1", null, null),
    node("raft-2", "follower", 5, "raft-1"),
    node("raft-3", "follower", 5, "raft-1"),
  ]);
  assert.deepEqual(view, { leader: "raft-1", term: 5 });
  assert.deepEqual(leaderOf([node("raft-1", "candidate", 6)]), { leader: null, term: 6 });
});

Deno.test("RaftStatusPoller reports an unreachable node with the reason instead of throwing", async () => {
  const poller = new RaftStatusPoller([{ name: "raft-1", address: `127.0.0.1:${freePort()}` }], {
    deadlineMs: 300,
  });
  try {
    const view = await poller.poll();
    assert.equal(view.leader, null);
    assert.equal(view.nodes[0]!.reachable, false);
    assert.match(view.nodes[0]!.error!, /\S/);
  } finally {
    poller.close({ closeChannels: true });
  }
});
