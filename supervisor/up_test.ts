import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { freePort, settlesWithin, tempDir, waitFor } from "@trading/testing";
import type { ChildSpecInput } from "./supervision/child_spec.ts";
import { freePortOffset } from "./free_port_offset.ts";
import { readProcessInfo } from "./supervision/process_info.ts";
import { RoleProcess, SpawnedProcess } from "@trading/testing";
import type { ChildStatus } from "./supervision/supervisor.ts";
import { alivePids, childOf, probedFixtureSpec } from "./testdata/fixtures.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const SUPERVISE_FIXTURES = fileURLToPath(
  new URL("./testdata/supervise_fixtures.ts", import.meta.url),
);

interface StatusBody {
  pid: number;
  ready: boolean;
  watchdogPid: number | null;
  children: ChildStatus[];
}

/** A supervisor process of the test, its output collected. */
interface SupervisorProcess extends AsyncDisposable {
  process: SpawnedProcess;
  url: string;
  output: () => string;
  status(): Promise<StatusBody>;
}

function startSupervisorProcess(
  args: string[],
  env: Record<string, string> = {},
): SupervisorProcess {
  const port = freePort();
  const process = SpawnedProcess.spawn(Deno.execPath(), ["run", "-A", "--frozen", ...args], {
    cwd: ROOT,
    env: { SUPERVISOR_HTTP_PORT: String(port), KAFKA_BROKERS: "", LOG_LEVEL: "info", ...env },
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    process,
    url,
    output: () => process.text(),
    async status() {
      const response = await fetch(`${url}/status`);
      return await response.json();
    },
    [Symbol.asyncDispose]: () => process[Symbol.asyncDispose](),
  };
}

Deno.test("up exits 2 naming SUPERVISOR_HTTP_PORT when it is not a port", async () => {
  const result = await RoleProcess.run("up", [], { SUPERVISOR_HTTP_PORT: "abc" });
  assert.equal(result.code, 2);
  assert.equal(
    result.stderr.trim(),
    'Invalid SUPERVISOR_HTTP_PORT "abc": expected an integer port 0-65535',
  );
});

Deno.test("up refuses a non-loopback SUPERVISOR_HTTP_HOST without SUPERVISOR_TOKEN", async () => {
  const result = await RoleProcess.run("up", [], { SUPERVISOR_HTTP_HOST: "0.0.0.0" });
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /^Missing SUPERVISOR_TOKEN: expected a token when SUPERVISOR_HTTP_HOST "0\.0\.0\.0" is not a loopback address/,
  );
});

Deno.test("no child outlives a SIGKILLed supervisor, a paused one included", async () => {
  const specs: ChildSpecInput[] = [
    // One child that, like every service (shared/runtime/shutdown.ts), exits on stdin EOF ...
    probedFixtureSpec("polite", ["--watch-stdin", "--tick-ms", "200"]),
    // ... one that does not, and one that is stopped: only the watchdog can end those.
    probedFixtureSpec("deaf"),
    probedFixtureSpec("frozen"),
  ];
  await using supervisor = startSupervisorProcess([SUPERVISE_FIXTURES, JSON.stringify(specs)]);
  const status = await waitFor("children running", async () => {
    const body = await supervisor.status();
    return body.ready ? body : undefined;
  }, { timeoutMs: 20_000 });
  const frozen = childOf(status.children, "frozen").pid!;
  const paused = await fetch(`${supervisor.url}/control`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ command: "pause frozen" }),
  });
  assert.equal(paused.status, 200);
  await paused.body?.cancel();
  await waitFor("frozen stopped", () => readProcessInfo(frozen)?.state === "T");
  const pids = [...status.children.map((c) => c.pid!), status.watchdogPid!];
  assert.equal(pids.length, 4);
  assert.deepEqual(alivePids(pids), pids);

  const killedAt = Date.now();
  supervisor.process.kill("SIGKILL");
  await supervisor.process.exited();
  await waitFor("every child gone", () => alivePids(pids).length === 0, { timeoutMs: 5000 });
  console.log(`all ${pids.length} processes gone ${Date.now() - killedAt} ms after the SIGKILL`);
});

Deno.test("ctl runs a command on the supervisor; a bad one prints usage, exits 2, changes nothing", async () => {
  const specs = [probedFixtureSpec("svc", [], { backoff: { initialMs: 50 } })];
  await using supervisor = startSupervisorProcess([SUPERVISE_FIXTURES, JSON.stringify(specs)]);
  const env = { SUPERVISOR_URL: supervisor.url };
  const before = await waitFor("ready", async () => {
    const body = await supervisor.status();
    return body.ready ? body : undefined;
  }, { timeoutMs: 20_000 });

  const bad = await RoleProcess.run("ctl", ["kill", "nobody"], env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^Unknown name "nobody": expected one of svc\n\nUsage: kill <name>/);
  const unknown = await RoleProcess.run("ctl", ["frobnicate"], env);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /Unknown command "frobnicate"\n\nCommands:\n +status/);
  const after = await supervisor.status();
  assert.deepEqual(
    after.children.map((c) => [c.pid, c.restarts, c.state]),
    before.children.map((c) => [c.pid, c.restarts, c.state]),
  );

  const status = await RoleProcess.run("ctl", ["status"], env);
  assert.equal(status.code, 0);
  assert.match(status.stdout, /^NAME +STATE/);
  assert.match(status.stdout, /\nsvc +running /);
  const svcPid = childOf(before.children, "svc").pid!;
  const kill = await RoleProcess.run("ctl", ["kill", "svc"], env);
  assert.equal(kill.code, 0);
  assert.equal(kill.stdout.trim(), `killed svc (pid ${svcPid})`);

  const restarted = await waitFor("svc restarted", async () => {
    const svc = childOf((await supervisor.status()).children, "svc");
    return svc.state === "running" && svc.pid !== svcPid ? svc : undefined;
  });

  const shutdown = await RoleProcess.run("ctl", ["shutdown"], env);
  assert.equal(shutdown.code, 0);
  assert.equal(shutdown.stdout.trim(), "shutting down");
  assert.equal((await supervisor.process.exited()).code, 0);
  assert.deepEqual(alivePids([svcPid, restarted.pid!, before.watchdogPid!]), []);

  const unreachable = await RoleProcess.run("ctl", ["status"], env);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /^Cannot reach the supervisor at http:\/\/127\.0\.0\.1:\d+/);
});

Deno.test("up starts every role that exists, reports them healthy, and SIGINT stops all", async () => {
  await using dataDir = await tempDir();
  const offset = freePortOffset();
  // Twice on the same data: the second start recovers from what the first one persisted.
  for (const run of ["first", "second"]) {
    await using supervisor = startSupervisorProcess([MAIN, "up"], {
      SUPERVISOR_PORT_OFFSET: String(offset),
      SUPERVISOR_DATA_DIR: dataDir.path,
    });
    const startedAt = Date.now();
    const status = await waitFor(`every child healthy (${run} run)`, async () => {
      const body = await supervisor.status();
      return body.ready && body.children.every((c) => c.state === "running" && c.health?.ok)
        ? body
        : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 }).catch((error) => {
      throw new Error(
        `${error.message}\n--- supervisor output ---\n${supervisor.output().slice(-5000)}`,
      );
    });
    const names = status.children.map((c) => c.name).join(", ") || "no service roles yet";
    console.log(`${run} run: ${names} healthy in ${Date.now() - startedAt} ms`);
    for (const child of status.children) {
      assert.ok(Object.values(child.ports).every((p) => p > offset), `${child.name} offset ports`);
    }
    const pids = [...status.children.map((c) => c.pid!), status.watchdogPid!];
    const interruptedAt = Date.now();
    supervisor.process.kill("SIGINT");
    const exit = await settlesWithin(
      "the supervisor's exit after SIGINT",
      supervisor.process.exited(),
    );
    const tookMs = Date.now() - interruptedAt;
    assert.equal(exit.code, 0, supervisor.output().slice(-3000));
    assert.deepEqual(alivePids(pids), [], "nothing left running");
    console.log(`${run} run: SIGINT stopped ${pids.length - 1} children in ${tookMs} ms`);
  }
});

Deno.test("up refuses to start when a child's port is taken, naming the port and the child", async () => {
  const offset = freePortOffset();
  const held = [9092 + offset, 8081 + offset].map((port) =>
    Deno.listen({ hostname: "127.0.0.1", port })
  );
  await using dir = await tempDir();
  try {
    await using supervisor = startSupervisorProcess([MAIN, "up"], {
      SUPERVISOR_PORT_OFFSET: String(offset),
      SUPERVISOR_DATA_DIR: dir.path,
    });
    const timeout = setTimeout(() => supervisor.process.kill("SIGKILL"), 20_000);
    const { code } = await supervisor.process.exited();
    clearTimeout(timeout);
    assert.equal(code, 1, supervisor.output());
    assert.match(
      supervisor.output(),
      new RegExp(
        `Ports in use: ${9092 + offset} \\(broker kafka\\), ${
          8081 + offset
        } \\(raft-2 http\\): expected them free .*SUPERVISOR_PORT_OFFSET`,
      ),
    );
    assert.doesNotMatch(supervisor.output(), /"started"/, "no child was started");
  } finally {
    for (const listener of held) listener.close();
  }
});
