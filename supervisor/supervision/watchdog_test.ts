import assert from "node:assert/strict";
import { waitFor } from "@trading/testing";
import { isAlive, readProcessInfo } from "./process_info.ts";
import { selfCommand } from "./self_command.ts";
import { killOrphans, watchListLine } from "./watchdog.ts";

/** A `sleep` in its own session, as the supervisor starts its children. */
function sleeper(): Deno.ChildProcess {
  return new Deno.Command("sleep", { args: ["30"], detached: true, stdout: "null" }).spawn();
}

Deno.test("killOrphans() kills a SIGSTOPped process and its group", async () => {
  const child = sleeper();
  Deno.kill(child.pid, "SIGSTOP");
  await waitFor("the sleeper to be stopped", () => readProcessInfo(child.pid)?.state === "T");
  const startTime = readProcessInfo(child.pid)!.startTime;
  const killed = await killOrphans([{ pid: child.pid, startTime }]);
  assert.deepEqual(killed, [child.pid]);
  assert.equal((await child.status).signal, "SIGKILL");
});

Deno.test("killOrphans() spares a pid whose start time says it is another process", async () => {
  const child = sleeper();
  try {
    const killed = await killOrphans([{ pid: child.pid, startTime: "1" }], { waitMs: 0 });
    assert.deepEqual(killed, []);
    assert.equal(isAlive(child.pid), true);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
});

Deno.test("the supervisor-watchdog role kills the listed children once its stdin closes", async () => {
  const victim = sleeper();
  Deno.kill(victim.pid, "SIGSTOP");
  const { executable, args } = selfCommand("supervisor-watchdog");
  const watchdog = new Deno.Command(executable, {
    args,
    stdin: "piped",
    stdout: "piped",
    env: { LOG_LEVEL: "warn" },
  }).spawn();
  const writer = watchdog.stdin.getWriter();
  const encoder = new TextEncoder();
  await writer.write(encoder.encode(watchListLine([]))); // a stale list, then the current one
  await writer.write(encoder.encode(watchListLine([
    { pid: victim.pid, startTime: readProcessInfo(victim.pid)!.startTime },
  ])));
  // Still alive while the watchdog's stdin is open: the watchdog only acts on EOF.
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(isAlive(victim.pid), true);
  await writer.close();
  const [status, output] = await Promise.all([
    watchdog.status,
    new Response(watchdog.stdout).text(),
  ]);
  assert.equal(status.code, 0);
  assert.equal((await victim.status).signal, "SIGKILL");
  assert.match(output, /killed 1 orphaned children/);
});
