import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { freePort, waitFor } from "@trading/testing";
import { RaftPollerProcess } from "./dashboard_raft_poller.ts";
import { isAlive } from "../supervision/process_info.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

Deno.test("RaftPollerProcess shows each node's status from its poller process and restarts a dead poller", async () => {
  const address = `127.0.0.1:${freePort()}`; // nothing listens: the node is unreachable
  const poller = new RaftPollerProcess([{ name: "raft-1", address }], {
    intervalMs: 200,
    deadlineMs: 100,
  });
  assert.equal(poller.latest().nodes[0]!.error, "waiting for the first status");
  poller.start();
  try {
    const view = await waitFor("a status from the poller", () => {
      const node = poller.latest().nodes[0]!;
      return node.error !== "waiting for the first status" ? poller.latest() : undefined;
    }, { timeoutMs: 20_000 });
    assert.equal(view.leader, null);
    assert.equal(view.nodes[0]!.name, "raft-1");
    assert.equal(view.nodes[0]!.reachable, false);
    assert.match(view.nodes[0]!.error!, /UNAVAILABLE|DEADLINE/);

    const first = poller.pid!;
    Deno.kill(first, "SIGKILL");
    const second = await waitFor("a new poller", () => {
      const pid = poller.pid;
      return pid !== null && pid !== first ? pid : undefined;
    }, { timeoutMs: 20_000 });
    assert.match(poller.latest(Date.now() + 60_000).nodes[0]!.error!, /^no status for 6\d s$/);
    await poller.stop();
    assert.equal(isAlive(second), false, "stop() ends the poller");
  } finally {
    await poller.stop();
  }
});

Deno.test("dashboard-raft-poller exits 2 naming its expected argument when given a bad one", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--frozen", MAIN, "dashboard-raft-poller", "{}"],
    stdin: "null",
  }).output();
  assert.equal(output.code, 2);
  assert.match(
    new TextDecoder().decode(output.stderr),
    /^Invalid dashboard-raft-poller arguments: expected one JSON \{targets, intervalMs, deadlineMs\}/,
  );
});
