import assert from "node:assert/strict";
import { pipelineCommands } from "./chaos_commands.ts";
import { defaultCommands } from "./commands.ts";
import { serveControl } from "./control_server.ts";
import { faultTracker } from "./fault_tracker.ts";
import { Supervisor } from "../supervision/supervisor.ts";

function idleSupervisor(): Supervisor {
  return new Supervisor({
    specs: [{ name: "raft-1", command: { executable: "true" } }, {
      name: "raft-2",
      command: { executable: "true" },
    }],
  });
}

Deno.test("FaultTracker writes a fault-start and a fault-stop event with the duration", () => {
  const supervisor = idleSupervisor();
  const faults = faultTracker(supervisor);
  assert.equal(faultTracker(supervisor), faults, "one tracker per supervisor");
  const fault = faults.start("network", "raft-1", "drop-pct=30, seed 7");
  assert.deepEqual(faults.active(), [fault]);
  const stopped = faults.stop((f) => f.target === "raft-1", "healed");
  assert.deepEqual(stopped, [fault]);
  assert.deepEqual(faults.active(), []);
  const [start, stop] = supervisor.events.list();
  assert.equal(start?.kind, "fault-start");
  assert.equal(start?.message, "fault 1 started: network raft-1 (drop-pct=30, seed 7)");
  assert.deepEqual(start?.fields, {
    fault: 1,
    faultKind: "network",
    target: "raft-1",
    detail: "drop-pct=30, seed 7",
  });
  assert.equal(stop?.kind, "fault-stop");
  assert.match(stop!.message, /^fault 1 stopped after \d+ ms: network raft-1 \(healed\)$/);
  assert.equal(stop?.fields?.reason, "healed");
});

Deno.test("FaultTracker ends a fault on its target's end event only", () => {
  const supervisor = idleSupervisor();
  const faults = faultTracker(supervisor);
  faults.start("pause", "raft-1", "", ["resumed", "exited"]);
  faults.start("partition", "raft-1", "from every peer");
  supervisor.emit({ kind: "resumed", child: "raft-2", message: "resumed raft-2" });
  supervisor.emit({ kind: "ready", child: "raft-1", message: "raft-1 is ready" });
  assert.equal(faults.active().length, 2);
  supervisor.emit({ kind: "resumed", child: "raft-1", message: "resumed raft-1" });
  assert.deepEqual(faults.active().map((f) => f.kind), ["partition"]);
  const last = supervisor.events.list().at(-1)!;
  assert.equal(last.kind, "fault-stop");
  assert.equal(last.fields?.reason, "raft-1 resumed");
});

Deno.test("GET /status lists the active faults", async () => {
  const supervisor = idleSupervisor();
  const server = await serveControl(supervisor, {
    hostname: "127.0.0.1",
    port: 0,
    commands: defaultCommands(),
  });
  try {
    faultTracker(supervisor).start("exit-on-leader", "raft-2", "");
    const body = await (await fetch(`http://127.0.0.1:${server.port}/status`)).json();
    assert.deepEqual(
      body.faults.map((
        f: { id: number; kind: string; target: string },
      ) => [f.id, f.kind, f.target]),
      [[1, "exit-on-leader", "raft-2"]],
    );
    const events = await (await fetch(`http://127.0.0.1:${server.port}/events`)).json();
    assert.equal(events.events.at(-1).kind, "fault-start");
  } finally {
    await server.close();
  }
});

Deno.test("status lists the active faults under the children", async () => {
  const supervisor = idleSupervisor();
  const commands = pipelineCommands();
  const quiet = await commands.execute("status", supervisor);
  assert.doesNotMatch(quiet.output, /Active faults/);
  faultTracker(supervisor).start("partition", "raft-1", "from every peer, both ways");
  const result = await commands.execute("status", supervisor);
  assert.equal(result.ok, true);
  assert.match(
    result.output,
    /\n\nActive faults:\n {2}1 {2}partition raft-1 \(from every peer, both ways\) since \d{4}-/,
  );
});
