import assert from "node:assert/strict";
import { join } from "node:path";
import { freePort, tempDir, waitFor } from "@trading/testing";
import type { ChildSpecInput } from "./child_spec.ts";
import { LogMultiplexer } from "./log_multiplexer.ts";
import { readProcessInfo } from "./process_info.ts";
import { Supervisor } from "./supervisor.ts";
import { alivePids, childOf, fixtureSpec, probedFixtureSpec } from "../testdata/fixtures.ts";

/** A supervisor over `specs` whose children's lines are captured in `lines`. */
function supervise(specs: ChildSpecInput[]): { supervisor: Supervisor; lines: string[] } {
  const lines: string[] = [];
  const output = new LogMultiplexer({ pretty: false, write: (text) => lines.push(text) });
  const supervisor = new Supervisor({ specs, output, probeIntervalMs: 200 });
  return { supervisor, lines };
}

const linesOf = (lines: string[], name: string) =>
  lines.filter((line) => JSON.parse(line).service === name);

Deno.test("Supervisor restarts a crashed child with growing backoff and a new pid each time", async () => {
  const { supervisor } = supervise([
    fixtureSpec("crasher", ["--exit-after-ms", "150", "--exit-code", "3"], {
      backoff: { initialMs: 150, maxMs: 5000, jitter: 0.2 },
      intensity: { maxRestarts: 10, withinMs: 60_000 },
    }),
  ]);
  await using _ = supervisor;
  supervisor.start();
  await waitFor(
    "three restarts",
    () => supervisor.events.list().filter((e) => e.kind === "restarting").length >= 3,
    { timeoutMs: 15_000 },
  );
  const events = supervisor.events.list();
  const delays = events.filter((e) => e.kind === "restarting").map((e) => e.fields!.delayMs);
  assert.ok(
    delays.every((d, i) => i === 0 || (d as number) > (delays[i - 1] as number)),
    `delays grow: ${delays.join(", ")}`,
  );
  const exits = events.filter((e) => e.kind === "exited");
  assert.ok(exits.every((e) => e.fields!.code === 3 && e.fields!.abnormal === true));
  // Each restart happened no sooner than its announced delay after the crash.
  const starts = events.filter((e) => e.kind === "started");
  for (const [i, restart] of events.filter((e) => e.kind === "restarting").entries()) {
    const next = starts[i + 1];
    if (!next) continue;
    const waited = Date.parse(next.time) - Date.parse(restart.time);
    assert.ok(waited >= (restart.fields!.delayMs as number) - 5, `waited ${waited} ms`);
  }
  const pids = starts.map((e) => e.fields!.pid);
  assert.equal(new Set(pids).size, pids.length, `new pid each start: ${pids.join(", ")}`);
  assert.ok(childOf(supervisor.status(), "crasher").restarts >= 3);
});

Deno.test("Supervisor gives up on a child crashing in a loop and reports it failed", async () => {
  const { supervisor } = supervise([
    fixtureSpec("looper", ["--exit-after-ms", "0"], {
      backoff: { initialMs: 20, maxMs: 100 },
      intensity: { maxRestarts: 2, withinMs: 30_000 },
    }),
    fixtureSpec("steady", []),
  ]);
  await using _ = supervisor;
  supervisor.start();
  const looper = await waitFor(
    "looper to fail",
    () => supervisor.status().find((c) => c.name === "looper" && c.state === "failed"),
    { timeoutMs: 15_000 },
  );
  assert.equal(looper.restarts, 2);
  assert.equal(looper.pid, null);
  assert.equal(looper.failure, "more than 2 restarts within 30000 ms");
  assert.equal(looper.lastExit?.code, 1);
  assert.equal(supervisor.events.list().filter((e) => e.kind === "failed").length, 1);
  assert.equal(supervisor.isReady(), false);
  assert.match(String(supervisor.readinessChecks().looper), /looper is failed/);
  // It stays down: no start after the failure.
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(supervisor.events.list().filter((e) => e.kind === "started").length, 4);
});

Deno.test("Supervisor pause stops the process (state T, no output) and resume continues it", async () => {
  const { supervisor, lines } = supervise([fixtureSpec("ticker", ["--tick-ms", "30"])]);
  await using _ = supervisor;
  supervisor.start();
  await waitFor("ticks", () => linesOf(lines, "ticker").length >= 5, { timeoutMs: 10_000 });
  const pid = childOf(supervisor.status(), "ticker").pid!;

  assert.match(supervisor.pause("ticker"), /^paused ticker \(pid \d+\)$/);
  await waitFor("state T", () => readProcessInfo(pid)?.state === "T");
  await new Promise((resolve) => setTimeout(resolve, 50)); // lines already in the pipe
  const frozen = linesOf(lines, "ticker").length;
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.equal(linesOf(lines, "ticker").length, frozen, "no output while paused");
  assert.equal(childOf(supervisor.status(), "ticker").state, "paused");

  supervisor.resume("ticker");
  await waitFor("output again", () => linesOf(lines, "ticker").length > frozen + 3);
  assert.notEqual(readProcessInfo(pid)?.state, "T");
  const ticker = childOf(supervisor.status(), "ticker");
  assert.equal(ticker.state, "running");
  assert.equal(ticker.pid, pid, "the same process continued");
  assert.deepEqual(
    supervisor.events.list().filter((e) => e.child === "ticker").map((e) => e.kind),
    ["started", "ready", "paused", "resumed"],
  );
});

Deno.test("Supervisor pause with ms resumes the child by itself", async () => {
  const { supervisor, lines } = supervise([fixtureSpec("ticker", ["--tick-ms", "30"])]);
  await using _ = supervisor;
  supervisor.start();
  await waitFor("ticks", () => linesOf(lines, "ticker").length >= 3, { timeoutMs: 10_000 });
  const pid = childOf(supervisor.status(), "ticker").pid!;
  const pausedAt = Date.now();
  assert.match(supervisor.pause("ticker", 500), /resuming in 500 ms/);
  await waitFor("state T", () => readProcessInfo(pid)?.state === "T");
  await waitFor("resumed", () => childOf(supervisor.status(), "ticker").state === "running");
  assert.ok(Date.now() - pausedAt >= 490, "not before its time");
  const count = linesOf(lines, "ticker").length;
  await waitFor("output again", () => linesOf(lines, "ticker").length > count + 2);
  assert.notEqual(readProcessInfo(pid)?.state, "T");
});

Deno.test("Supervisor starts a child only after what it depends on is ready", async () => {
  const port = freePort();
  const { supervisor } = supervise([
    fixtureSpec("app", [], { dependsOn: ["db"] }),
    fixtureSpec("db", ["--http-port", String(port), "--ready-after-ms", "600"], {
      readiness: { kind: "http", port },
    }),
  ]);
  await using _ = supervisor;
  supervisor.start();
  await waitFor("app running", () => childOf(supervisor.status(), "app").state === "running", {
    timeoutMs: 10_000,
  });
  const events = supervisor.events.list();
  const dbReady = events.find((e) => e.child === "db" && e.kind === "ready")!;
  const appStarted = events.find((e) => e.child === "app" && e.kind === "started")!;
  assert.ok(dbReady.seq < appStarted.seq, "app started after db was ready");
  const dbStarted = events.find((e) => e.child === "db" && e.kind === "started")!;
  assert.ok(Date.parse(dbReady.time) - Date.parse(dbStarted.time) >= 550, "db's probe waited");
  assert.equal(childOf(supervisor.status(), "db").health?.ok, true);
});

Deno.test("Supervisor shutdown goes in reverse dependency order and leaves no process", async () => {
  await using dir = await tempDir();
  const termLog = join(dir.path, "term.log");
  const log = ["--term-log", termLog];
  const { supervisor } = supervise([
    probedFixtureSpec("base", log),
    probedFixtureSpec("middle", log, { dependsOn: ["base"] }),
    probedFixtureSpec("top", [...log, "--ignore-sigterm"], {
      dependsOn: ["middle"],
      shutdownGraceMs: 400,
    }),
    fixtureSpec("crasher", ["--exit-after-ms", "100"], { backoff: { initialMs: 50 } }),
  ]);
  supervisor.start();
  await waitFor(
    "all started",
    () =>
      ["base", "middle", "top"].every((n) => childOf(supervisor.status(), n).state === "running"),
    {
      timeoutMs: 15_000,
    },
  );
  supervisor.pause("middle"); // a paused child must be continued to act on SIGTERM
  const pids = supervisor.status().flatMap((c) => (c.pid === null ? [] : [c.pid]));
  const started = Date.now();
  await supervisor.shutdown("test");
  const tookMs = Date.now() - started;

  assert.equal(await Deno.readTextFile(termLog), "top\nmiddle\nbase\n");
  assert.deepEqual(alivePids(pids), [], "no child left");
  const events = supervisor.events.list();
  const afterShutdown = events.slice(events.findIndex((e) => e.kind === "shutdown"));
  assert.ok(
    afterShutdown.some((e) => e.kind === "killed" && e.child === "top" && e.fields?.by === "grace"),
    "top, which ignores SIGTERM, was SIGKILLed after its grace",
  );
  assert.ok(!afterShutdown.some((e) => e.kind === "started"), "nothing restarted in shutdown");
  // A lower bound only: top's grace was waited out before its SIGKILL.
  assert.ok(tookMs >= 400, `shutdown took ${tookMs} ms, less than top's grace`);
  const states = supervisor.status().map((c) => c.state);
  assert.deepEqual(states, ["stopped", "stopped", "stopped", "stopped"]);
});

Deno.test("Supervisor kill SIGKILLs a child and its policy restarts it", async () => {
  const { supervisor } = supervise([fixtureSpec("victim", [], { backoff: { initialMs: 50 } })]);
  await using _ = supervisor;
  supervisor.start();
  await waitFor("running", () => childOf(supervisor.status(), "victim").state === "running");
  const pid = childOf(supervisor.status(), "victim").pid!;
  assert.equal(supervisor.kill("victim"), `killed victim (pid ${pid})`);
  const again = await waitFor("restarted", () => {
    const child = childOf(supervisor.status(), "victim");
    return child.state === "running" && child.pid !== pid ? child : undefined;
  });
  assert.equal(again.restarts, 1);
  assert.equal(again.lastExit?.signal, "SIGKILL");
  assert.deepEqual(alivePids([pid]), []);
});

Deno.test("Supervisor does not hold a kill command against a child's restart intensity", async () => {
  const { supervisor } = supervise([
    fixtureSpec("victim", [], {
      backoff: { initialMs: 20 },
      intensity: { maxRestarts: 0, withinMs: 60_000 },
    }),
  ]);
  await using _ = supervisor;
  supervisor.start();
  for (let kills = 1; kills <= 3; kills++) {
    await waitFor("running", () => childOf(supervisor.status(), "victim").state === "running");
    supervisor.kill("victim");
    await waitFor("restarted", () => childOf(supervisor.status(), "victim").restarts === kills);
  }
  await waitFor("running", () => childOf(supervisor.status(), "victim").state === "running");
});

Deno.test("Supervisor counts a command that cannot be started as a crash and gives up", async () => {
  const { supervisor } = supervise([{
    name: "missing",
    command: { executable: "/nonexistent/program" },
    backoff: { initialMs: 10 },
    intensity: { maxRestarts: 2, withinMs: 60_000 },
  }]);
  await using _ = supervisor;
  supervisor.start();
  const missing = await waitFor("failed", () => {
    const child = childOf(supervisor.status(), "missing");
    return child.state === "failed" ? child : undefined;
  });
  assert.equal(missing.restarts, 2);
  assert.equal(missing.lastExit?.code, 127);
  assert.match(
    supervisor.events.list().find((e) => e.kind === "exited")!.message,
    /^missing could not be started: /,
  );
});

Deno.test("Supervisor restart stops a child gracefully and revives a failed one", async () => {
  await using dir = await tempDir();
  const termLog = join(dir.path, "term.log");
  const { supervisor } = supervise([
    probedFixtureSpec("svc", ["--term-log", termLog]),
    fixtureSpec("flaky", ["--exit-after-ms", "0"], {
      backoff: { initialMs: 10 },
      intensity: { maxRestarts: 0, withinMs: 60_000 },
    }),
  ]);
  await using _ = supervisor;
  supervisor.start();
  await waitFor("svc running", () => childOf(supervisor.status(), "svc").state === "running");
  const pid = childOf(supervisor.status(), "svc").pid!;
  const answer = await supervisor.restart("svc");
  const svc = childOf(supervisor.status(), "svc");
  assert.equal(answer, `restarted svc (pid ${svc.pid})`);
  assert.notEqual(svc.pid, pid);
  assert.equal(await Deno.readTextFile(termLog), "svc\n", "stopped with SIGTERM");
  assert.equal(svc.lastExit?.code, 0);

  await waitFor("flaky failed", () => childOf(supervisor.status(), "flaky").state === "failed");
  await supervisor.restart("flaky");
  assert.notEqual(childOf(supervisor.status(), "flaky").state, "failed");
});

Deno.test("Supervisor lets transient and temporary children rest after a clean exit", async () => {
  const { supervisor } = supervise([
    fixtureSpec("job", ["--exit-after-ms", "50", "--exit-code", "0"], { restart: "transient" }),
    fixtureSpec("once", ["--exit-after-ms", "50", "--exit-code", "4"], { restart: "temporary" }),
  ]);
  await using _ = supervisor;
  supervisor.start();
  await waitFor("both exited", () => supervisor.status().every((c) => c.state === "exited"), {
    timeoutMs: 10_000,
  });
  assert.deepEqual(supervisor.status().map((c) => c.restarts), [0, 0]);
  assert.equal(supervisor.isReady(), true, "only permanent children count for readiness");
});

Deno.test("Supervisor control methods refuse a child in the wrong state", async () => {
  const { supervisor } = supervise([fixtureSpec("a", [])]);
  await using _ = supervisor;
  assert.throws(() => supervisor.kill("a"), /Cannot kill a: it is not running \(state stopped\)/);
  assert.throws(() => supervisor.resume("a"), /a is not paused/);
  assert.throws(() => supervisor.pause("zz"), /Unknown child "zz": expected one of a/);
});
