import assert from "node:assert/strict";
import type { StatusResponse } from "@trading/proto/raft";
import { tempDir, waitFor } from "@trading/testing";
import { pipelineCommands } from "./chaos_commands.ts";
import { defaultCommands } from "./commands.ts";
import {
  formatLeaderTable,
  leaderOf,
  raftNodesOf,
  type RaftNodeStatus,
  raftStatuses,
  registerRaftCommands,
} from "./raft_commands.ts";
import { startRaftSupervisor, unexpectedExits } from "../testdata/raft_supervisor.ts";
import { Supervisor } from "../supervision/supervisor.ts";

function status(nodeId: string, role: string, term: number): StatusResponse {
  return {
    nodeId,
    role,
    term,
    leaderId: role === "leader" ? nodeId : "",
    commitIndex: 7,
    appliedIndex: 6,
    lastIndex: 7,
    snapshotIndex: 0,
    members: [],
    lastContactMs: 12,
    orders: 0,
  };
}

const node = (n: number) => ({ child: `raft-${n}`, nodeId: `raft-${n}`, grpcAddr: "127.0.0.1:1" });

Deno.test("leaderOf() picks the leader with the highest term, not an isolated old leader", () => {
  const statuses: RaftNodeStatus[] = [
    { node: node(1), status: status("raft-1", "leader", 3) },
    { node: node(2), status: status("raft-2", "leader", 4) },
    { node: node(3), error: "deadline exceeded" },
  ];
  assert.equal(leaderOf(statuses)?.node.child, "raft-2");
  assert.equal(leaderOf(statuses.slice(2)), undefined);
});

Deno.test("formatLeaderTable() names the leader and term, then each node's role, commit and applied", () => {
  const text = formatLeaderTable([
    { node: node(1), status: status("raft-1", "follower", 4) },
    { node: node(2), status: status("raft-2", "leader", 4) },
    { node: node(3), error: "deadline exceeded" },
  ]);
  const lines = text.split("\n");
  assert.equal(lines[0], "leader raft-2 (node raft-2) term 4");
  assert.match(lines[1]!, /^NODE +ROLE +TERM +LEADER +COMMIT +APPLIED +LAST CONTACT$/);
  assert.match(lines[2]!, /^raft-1 +follower +4 +- +7 +6 +12 ms$/);
  assert.match(lines[3]!, /^raft-2 +leader +4 +raft-2 +7 +6 +-$/);
  assert.equal(lines[4], "raft-3  unreachable: deadline exceeded");
  assert.equal(formatLeaderTable([]).split("\n")[0], "no leader");
});

Deno.test("leader without Raft children answers that there are none; kill leader fails, nothing changes", async () => {
  const supervisor = new Supervisor({
    specs: [{ name: "svc", command: { executable: "true" } }],
  });
  const commands = registerRaftCommands(defaultCommands(), { leaderWaitMs: 0 });
  const leader = await commands.execute("leader", supervisor);
  assert.deepEqual(leader, { ok: true, output: "no Raft nodes", usageError: false });
  const kill = await commands.execute("kill leader", supervisor);
  assert.equal(kill.ok, false);
  assert.equal(kill.usageError, false);
  assert.match(kill.output, /^No Raft nodes: expected children with RAFT_NODE_ID/);
  assert.equal(supervisor.events.list().length, 0);
});

Deno.test("leader, kill leader and pause leader act on the node that leads when they run", async () => {
  await using dir = await tempDir();
  const supervisor = await startRaftSupervisor(dir.path);
  await using _ = supervisor;
  const commands = pipelineCommands();

  const shown = await commands.execute("leader", supervisor);
  assert.equal(shown.ok, true, shown.output);
  const first = /^leader (raft-\d) \(node raft-\d\) term (\d+)\n/.exec(shown.output);
  assert.ok(first, shown.output);
  const [, leader, term] = first;
  for (const n of [1, 2, 3]) {
    assert.match(shown.output, new RegExp(`\\nraft-${n} +(leader|follower) +${term} +${leader}`));
  }

  // kill leader: SIGKILL of that node; another node leads in a later term.
  const pidBefore = supervisor.status().find((c) => c.name === leader)!.pid;
  const killed = await commands.execute("kill leader", supervisor);
  assert.equal(killed.ok, true, killed.output);
  assert.equal(killed.output, `killed ${leader} (pid ${pidBefore}) (the leader)`);
  const next = await waitFor("a new leader", async () => {
    const found = leaderOf(await raftStatuses(raftNodesOf(supervisor)));
    return found && found.node.child !== leader ? found : undefined;
  }, { timeoutMs: 10_000 });
  assert.ok(next.status.term > Number(term));

  // pause leader: the new leader is stopped, another one is elected, resume brings it back.
  const paused = await commands.execute("pause leader 1500", supervisor);
  assert.equal(paused.ok, true, paused.output);
  assert.match(
    paused.output,
    new RegExp(`^paused ${next.node.child} \\(pid \\d+\\), resuming in 1500 ms \\(the leader\\)$`),
  );
  assert.equal(supervisor.status().find((c) => c.name === next.node.child)!.state, "paused");
  await waitFor(
    "resumed after 1500 ms",
    () => supervisor.status().find((c) => c.name === next.node.child)!.state !== "paused",
    {
      timeoutMs: 5000,
    },
  );
  await waitFor("the killed node back and ready", () => supervisor.isReady(), {
    timeoutMs: 30_000,
  });

  const restarted = await commands.execute("restart leader", supervisor);
  assert.equal(restarted.ok, true, restarted.output);
  assert.match(restarted.output, /^restarted raft-\d \(pid \d+\)$/);
  assert.deepEqual(unexpectedExits(supervisor), []);
});
