import assert from "node:assert/strict";
import { SpawnedProcess, waitFor } from "@trading/testing";

const fixture = new URL("./testdata/service_fixture.ts", import.meta.url).pathname;

interface Started {
  child: Deno.ChildProcess;
  lines: string[];
  httpPort: number;
  stdin: WritableStreamDefaultWriter<Uint8Array>;
  /** Resolves with the exit status once its output is fully read. */
  exited: Promise<Deno.CommandStatus>;
}

async function startFixture(env: Record<string, string> = {}): Promise<Started> {
  const process = SpawnedProcess.spawn(Deno.execPath(), ["run", "-A", fixture], {
    env,
    stdin: "piped",
  });
  const { child, output: lines } = process;
  const ready = await waitFor("fixture READY", () => lines.find((l) => l.startsWith("READY")), {
    timeoutMs: 20_000,
  });
  return {
    child,
    lines,
    httpPort: Number(ready.split(" ")[1]),
    stdin: child.stdin.getWriter(),
    exited: process.exited(),
  };
}

Deno.test("a service serves /healthz, /readyz and /metrics", async () => {
  const { child, httpPort, stdin, exited } = await startFixture();
  try {
    const base = `http://127.0.0.1:${httpPort}`;
    const healthz = await fetch(`${base}/healthz`);
    assert.equal(healthz.status, 200);
    assert.equal((await healthz.json()).status, "ok");
    const readyz = await fetch(`${base}/readyz`);
    assert.equal(readyz.status, 200);
    assert.deepEqual((await readyz.json()).checks, { fixture: { ok: true } });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /fixture_started_total\{service="fixture"\} 1/);
    assert.match(metrics, /process_resident_memory_bytes/);
  } finally {
    child.kill("SIGTERM");
    await exited;
    await stdin.close().catch(() => {});
  }
});

Deno.test("SIGTERM runs the shutdown steps in reverse order and exits 0", async () => {
  const { child, lines, stdin, exited } = await startFixture();
  child.kill("SIGTERM");
  const status = await exited;
  await stdin.close().catch(() => {});
  assert.equal(status.code, 0);
  const steps = lines.filter((l) => l.startsWith("STEP"));
  assert.deepEqual(steps, ["STEP second", "STEP first"]);
  assert.ok(lines.some((l) => l.includes('"message":"shutdown complete"')));
});

Deno.test("a shutdown that misses its deadline exits 1", async () => {
  const { child, lines, stdin, exited } = await startFixture({
    FIXTURE_HANG: "1",
    FIXTURE_DEADLINE_MS: "300",
  });
  child.kill("SIGINT");
  const status = await exited;
  await stdin.close().catch(() => {});
  assert.equal(status.code, 1);
  assert.ok(lines.some((l) => l.includes("forcing exit")));
});

Deno.test("a supervised service exits when its supervisor's pipe closes", async () => {
  const { lines, stdin, exited } = await startFixture({ TRADING_SUPERVISED: "1" });
  await stdin.close();
  const status = await exited;
  assert.equal(status.code, 0);
  assert.ok(lines.some((l) => l.includes("supervisor went away")));
});
