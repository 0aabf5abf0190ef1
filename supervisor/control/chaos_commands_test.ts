import assert from "node:assert/strict";
import type { ChaosState } from "@trading/proto/raft";
import { tempDir, waitFor } from "@trading/testing";
import { parseRuntimeProfile, pipelineCommands } from "./chaos_commands.ts";
import { faultTracker } from "./fault_tracker.ts";
import { callRaftNodes } from "./raft_call.ts";
import {
  clusterSecretOf,
  leaderOf,
  RAFT_CALL_DEADLINE_MS,
  raftNodesOf,
  raftStatuses,
} from "./raft_commands.ts";
import { Supervisor } from "../supervision/supervisor.ts";
import { startRaftSupervisor, unexpectedExits } from "../testdata/raft_supervisor.ts";

const context = {
  names: ["broker", "raft-1", "raft-2", "raft-3", "order-executor"],
  targets: ["leader"],
};

function parseError(text: string): string {
  const result = pipelineCommands().parse(text, context);
  if (!("error" in result)) throw new Error(`"${text}" parsed, expected an error`);
  return result.error;
}

function parsedArgs(text: string): unknown {
  const result = pipelineCommands().parse(text, context);
  if ("error" in result) throw new Error(result.error);
  return result.args;
}

async function chaosOf(supervisor: Supervisor): Promise<Record<string, ChaosState>> {
  const states: Record<string, ChaosState> = {};
  const nodes = raftNodesOf(supervisor);
  const results = await callRaftNodes(
    nodes.map((n) => ({ addr: n.grpcAddr, method: "getChaos" as const, request: {} })),
    { clusterSecret: clusterSecretOf(nodes) },
  );
  results.forEach((result, i) => {
    if (!result.ok) throw new Error(result.error);
    states[nodes[i]!.child] = result.response;
  });
  return states;
}

Deno.test("parseRuntimeProfile() reads CHAOS_PROFILE parts and the exit-on-leader word", () => {
  assert.deepEqual(parseRuntimeProfile("drop-pct=30,delay=50-250"), {
    text: "drop-pct=30,delay=50-250",
    network: true,
    exitOnLeader: false,
  });
  assert.deepEqual(parseRuntimeProfile("exit-on-leader"), {
    text: "exit-on-leader",
    network: false,
    exitOnLeader: true,
  });
  assert.deepEqual(parseRuntimeProfile("off"), {
    text: "off",
    network: false,
    exitOnLeader: false,
  });
  assert.throws(() => parseRuntimeProfile("drop=3"), /Invalid chaos profile part "drop=3"/);
});

Deno.test("chaos words reject bad arguments with one sentence and their usage", () => {
  assert.equal(
    parseError("chaos raft-9 off"),
    'Unknown Raft node "raft-9": expected one of raft-1, raft-2, raft-3, all\n\n' +
      "Usage: chaos <raft-N|all> <profile|off> [seed]",
  );
  assert.match(
    parseError("chaos all drop-pct=300"),
    /^Invalid chaos profile part "drop-pct=300": expected drop-pct=<0-100> or delay=<ms>\[-<ms>\] \(or exit-on-leader, or off\)\n\nUsage: chaos/,
  );
  assert.match(parseError("chaos all"), /^Wrong number of arguments for "chaos"/);
  assert.match(parseError("chaos all off 0"), /^Invalid seed "0": expected an integer/);
  assert.match(parseError("partition broker"), /^Unknown Raft node "broker"/);
  assert.match(parseError("partition all"), /^Unknown Raft node "all"/);
  assert.match(parseError("heal now"), /^Wrong number of arguments for "heal"/);
  assert.match(parseError("verify 0"), /^Invalid duration "0": expected seconds 1-3600/);
  assert.match(
    parseError("kill nobody"),
    /^Unknown name "nobody": expected one of .*, leader\n\nUsage: kill <name\|leader>$/,
  );
  assert.match(parseError("pause leader soon"), /^Invalid duration "soon"/);
  assert.deepEqual(parsedArgs("chaos all drop-pct=30,delay=50-250 42"), [
    "all",
    { text: "drop-pct=30,delay=50-250", network: true, exitOnLeader: false },
    42,
  ]);
  assert.deepEqual(parsedArgs("pause leader 2000"), ["leader", 2000]);
});

Deno.test("verify runs the verifier on the children's Kafka and fails on its non-zero exit", async () => {
  const supervisor = new Supervisor({
    specs: [{ name: "svc", command: { executable: "true" }, env: { KAFKA_BROKERS: "h:1" } }],
  });
  const calls: Array<[number, string]> = [];
  let code = 0;
  const commands = pipelineCommands({
    verify: (seconds, brokers) => {
      calls.push([seconds, brokers]);
      return Promise.resolve({ code, output: code === 0 ? "0 duplicates, 0 lost" : "2 lost" });
    },
  });
  assert.deepEqual(await commands.execute("verify", supervisor), {
    ok: true,
    output: "0 duplicates, 0 lost",
    usageError: false,
  });
  code = 1;
  const failed = await commands.execute("verify 3", supervisor);
  assert.equal(failed.ok, false);
  assert.equal(failed.output, "verifier exited with code 1\n2 lost");
  assert.deepEqual(calls, [[10, "h:1"], [3, "h:1"]]);
});

Deno.test("chaos, partition and heal change the nodes' transport at runtime and log each fault's start and stop", async () => {
  await using dir = await tempDir();
  const supervisor = await startRaftSupervisor(dir.path);
  await using _ = supervisor;
  const commands = pipelineCommands();
  const faults = faultTracker(supervisor);
  const run = async (line: string) => {
    const result = await commands.execute(line, supervisor);
    assert.equal(result.ok, true, `${line}: ${result.output}`);
    return result.output;
  };

  // A bad line changes nothing: no RaftAdmin call, no fault.
  assert.equal((await commands.execute("chaos all drop-pct=101", supervisor)).usageError, true);
  assert.deepEqual(faults.active(), []);

  // chaos: every node's profile, one network fault per node.
  const set = await run("chaos all drop-pct=30,delay=50-250 7");
  assert.match(set, /^raft-1: chaos on, profile drop-pct=30,delay=50-250\n/);
  let states = await chaosOf(supervisor);
  for (const state of Object.values(states)) {
    assert.equal(state.dropPct, 30);
    assert.equal(state.delayMsMax, 250);
    assert.equal(Number(state.seed), 7);
  }
  assert.deepEqual(faults.active().map((f) => [f.kind, f.target]).sort(), [
    ["network", "raft-1"],
    ["network", "raft-2"],
    ["network", "raft-3"],
  ]);
  await run("chaos raft-2 off");
  assert.deepEqual(faults.active().map((f) => f.target).sort(), ["raft-1", "raft-3"]);
  assert.equal((await chaosOf(supervisor))["raft-2"]!.enabled, false);

  // partition: the leader drops to and from all; its peers drop to and from it.
  const leader = leaderOf(await raftStatuses(raftNodesOf(supervisor)))!.node;
  await run(`partition ${leader.child}`);
  states = await chaosOf(supervisor);
  for (const [child, state] of Object.entries(states)) {
    assert.deepEqual(state.partitionedFrom, child === leader.child ? ["*"] : [leader.nodeId]);
  }
  const fresh = await waitFor("a leader among the majority", async () => {
    const found = leaderOf(await raftStatuses(raftNodesOf(supervisor)));
    return found && found.node.child !== leader.child ? found : undefined;
  }, { timeoutMs: 10_000 });
  await waitFor("the isolated leader steps down", async () => {
    const statuses = await raftStatuses([leader]);
    return "status" in statuses[0]! && statuses[0].status.role !== "leader";
  }, { timeoutMs: 10_000 });
  assert.ok(faults.active().some((f) => f.kind === "partition" && f.target === leader.child));

  // exit-on-leader is one more fault; heal undoes it with everything else.
  await run(`chaos ${leader.child} exit-on-leader`);
  const healed = await run("heal");
  assert.match(healed, /raft-1: chaos off, profile off/);
  states = await chaosOf(supervisor);
  for (const state of Object.values(states)) {
    assert.deepEqual([state.enabled, state.profile, state.partitionedFrom], [false, "off", []]);
  }
  assert.deepEqual(faults.active(), []);
  await waitFor("the old leader follows the new one", async () => {
    const statuses = await raftStatuses([leader]);
    return "status" in statuses[0]! && statuses[0].status.leaderId !== "";
  }, { timeoutMs: 10_000 });
  assert.ok(fresh.status.term > 0);

  // Every fault has a start and a stop event on the timeline, with a time.
  const events = supervisor.events.list().filter((e) => e.kind.startsWith("fault-"));
  const started = events.filter((e) => e.kind === "fault-start").map((e) => e.fields!.fault);
  const stopped = events.filter((e) => e.kind === "fault-stop").map((e) => e.fields!.fault);
  assert.equal(started.length, 5); // 3 network, 1 partition, 1 exit-on-leader
  assert.deepEqual([...stopped].sort(), [...started].sort());
  assert.ok(events.every((e) => !Number.isNaN(Date.parse(e.time))));

  // A node that answers after the call's deadline (paused past it) is asked again: heal
  // still reaches it.
  supervisor.pause("raft-3");
  const resume = setTimeout(() => supervisor.resume("raft-3"), RAFT_CALL_DEADLINE_MS * 1.5);
  try {
    const again = await run("heal");
    assert.match(again, /raft-3: chaos off, profile off/);
  } finally {
    clearTimeout(resume);
  }
  assert.deepEqual(unexpectedExits(supervisor), []);
});

Deno.test("kill and pause are faults that end when the child is ready again or resumed", async () => {
  await using dir = await tempDir();
  const supervisor = await startRaftSupervisor(dir.path);
  await using _ = supervisor;
  const commands = pipelineCommands();
  const faults = faultTracker(supervisor);

  assert.equal((await commands.execute("pause raft-3", supervisor)).ok, true);
  assert.deepEqual(faults.active().map((f) => [f.kind, f.target]), [["pause", "raft-3"]]);
  assert.equal((await commands.execute("resume raft-3", supervisor)).ok, true);
  assert.deepEqual(faults.active(), []);

  const killed = await commands.execute("kill leader", supervisor);
  assert.equal(killed.ok, true, killed.output);
  const [fault] = faults.active();
  assert.equal(fault?.kind, "kill");
  assert.equal(fault?.detail, "was leader");
  await waitFor("the killed node ready again", () => faults.active().length === 0, {
    timeoutMs: 30_000,
  });
  const stop = supervisor.events.list().find((e) =>
    e.kind === "fault-stop" && e.fields!.fault === fault.id
  );
  assert.deepEqual(unexpectedExits(supervisor), []);
  assert.match(
    stop!.message,
    new RegExp(
      `^fault ${fault.id} stopped after \\d+ ms: kill ${fault.target} \\(${fault.target} ready\\)$`,
    ),
  );
});
