import assert from "node:assert/strict";
import { waitFor } from "@trading/testing";
import type { ChildSpecInput } from "../supervision/child_spec.ts";
import { defaultCommands } from "./commands.ts";
import { serveControl } from "./control_server.ts";
import { LogMultiplexer } from "../supervision/log_multiplexer.ts";
import { Supervisor } from "../supervision/supervisor.ts";
import { childOf, fixtureSpec, probedFixtureSpec } from "../testdata/fixtures.ts";

/** A started supervisor with its HTTP API on a free loopback port. */
async function withApi(
  specs: ChildSpecInput[],
  test: (api: { url: string; supervisor: Supervisor }) => Promise<void>,
  token?: string,
): Promise<void> {
  const output = new LogMultiplexer({ pretty: false, write: () => {} });
  const supervisor = new Supervisor({ specs, output, probeIntervalMs: 200 });
  const server = await serveControl(supervisor, {
    hostname: "127.0.0.1",
    port: 0,
    token,
    commands: defaultCommands(),
  });
  try {
    supervisor.start();
    await test({ url: `http://127.0.0.1:${server.port}`, supervisor });
  } finally {
    await supervisor.shutdown("test");
    await server.close();
  }
}

async function control(url: string, command: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${url}/control`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(command),
  });
  return { status: response.status, body: await response.json() };
}

async function getJson(url: string) {
  const response = await fetch(url);
  return { status: response.status, body: await response.json() };
}

Deno.test("GET /status shows every child with pid, state, restarts, uptime, health and ports", async () => {
  await withApi(
    [probedFixtureSpec("a"), fixtureSpec("b", [], { ports: { grpc: 50070 } })],
    async ({ url }) => {
      const status = await waitFor("both running", async () => {
        const { body } = await getJson(`${url}/status`);
        return body.children.every((c: { state: string }) => c.state === "running") ? body : false;
      }, { timeoutMs: 10_000 });
      assert.equal(status.ready, true);
      assert.equal(status.pid, Deno.pid);
      const b = childOf(status.children, "b");
      assert.ok(b.pid !== null && b.pid > 0);
      assert.equal(b.restarts, 0);
      assert.ok(b.uptimeMs !== null && b.uptimeMs >= 0);
      assert.deepEqual(b.ports, { grpc: 50070 });
      assert.equal(childOf(status.children, "a").health?.ok, true);
    },
  );
});

Deno.test("GET /status reports a child that exceeded its restart intensity as failed", async () => {
  await withApi([
    fixtureSpec("looper", ["--exit-after-ms", "0", "--exit-code", "7"], {
      backoff: { initialMs: 20 },
      intensity: { maxRestarts: 3, withinMs: 30_000 },
    }),
  ], async ({ url }) => {
    const looper = await waitFor("looper failed", async () => {
      const { body } = await getJson(`${url}/status`);
      const child = childOf(body.children, "looper");
      return child.state === "failed" ? child : undefined;
    }, { timeoutMs: 15_000 });
    assert.equal(looper.restarts, 3);
    assert.equal(looper.pid, null);
    assert.equal(looper.lastExit?.code, 7);
    assert.equal(looper.failure, "more than 3 restarts within 30000 ms");
    const { body } = await getJson(`${url}/status`);
    assert.equal(body.ready, false);
    const table = await control(url, { command: "status" });
    assert.match(table.body.output, /\nlooper +failed +- +3 +- +- +code 7/);
  });
});

Deno.test("POST /control with a bad command answers 400 with usage and changes nothing", async () => {
  await withApi([probedFixtureSpec("a"), probedFixtureSpec("b")], async ({ url, supervisor }) => {
    await waitFor("running", () => supervisor.isReady(), { timeoutMs: 10_000 });
    const before = supervisor.status().map(({ name, pid, state, restarts }) => ({
      name,
      pid,
      state,
      restarts,
    }));
    const eventsBefore = supervisor.events.list().length;
    for (const command of ["kill raft-9", "pause a later", "explode", "kill", ""]) {
      const { status, body } = await control(url, { command });
      assert.equal(status, 400, command);
      assert.equal(body.ok, false);
      assert.match(body.output, /Usage: |Commands:/, command);
    }
    const notJson = await fetch(`${url}/control`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "kill a",
    });
    assert.equal(notJson.status, 400);
    assert.match((await notJson.json()).output, /expected JSON \{"command": "<command>"\}/);
    const wrongMethod = await fetch(`${url}/control`);
    assert.equal(wrongMethod.status, 405);
    await wrongMethod.body?.cancel();

    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = supervisor.status().map(({ name, pid, state, restarts }) => ({
      name,
      pid,
      state,
      restarts,
    }));
    assert.deepEqual(after, before);
    assert.equal(supervisor.events.list().length, eventsBefore);
  });
});

Deno.test("POST /control runs a command: kill restarts the child, a failure answers 409", async () => {
  await withApi(
    [probedFixtureSpec("a", [], { backoff: { initialMs: 50 } })],
    async ({ url, supervisor }) => {
      await waitFor("running", () => supervisor.isReady(), { timeoutMs: 10_000 });
      const pid = childOf(supervisor.status(), "a").pid;
      const { status, body } = await control(url, { command: "kill a" });
      assert.equal(status, 200);
      assert.deepEqual(body, { ok: true, output: `killed a (pid ${pid})` });
      await waitFor("restarted", () => {
        const a = childOf(supervisor.status(), "a");
        return a.state === "running" && a.pid !== pid;
      }, { timeoutMs: 10_000 });
      const resume = await control(url, { command: "resume a" });
      assert.equal(resume.status, 409);
      assert.deepEqual(resume.body, { ok: false, output: "a is not paused (state running)" });
      const table = await control(url, { command: "status" });
      assert.match(table.body.output, /^NAME +STATE +PID/);
      assert.match(table.body.output, /\na +running +\d+ +1 /);
    },
  );
});

Deno.test("GET /readyz is 503 until every permanent child is ready, then 200", async () => {
  await withApi([
    probedFixtureSpec("slow", ["--ready-after-ms", "800"]),
    fixtureSpec("job", ["--exit-after-ms", "0"], { restart: "temporary" }),
  ], async ({ url }) => {
    const early = await getJson(`${url}/readyz`);
    assert.equal(early.status, 503);
    assert.equal(early.body.checks.slow.ok, false);
    assert.equal(early.body.checks.job, undefined, "a temporary child does not count");
    await waitFor("ready", async () => (await getJson(`${url}/readyz`)).status === 200, {
      timeoutMs: 10_000,
    });
    const healthz = await getJson(`${url}/healthz`);
    assert.equal(healthz.status, 200);
  });
});

Deno.test("GET /metrics counts restarts and shows which children are up", async () => {
  await withApi(
    [probedFixtureSpec("metered", [], { backoff: { initialMs: 20 } })],
    async ({ url, supervisor }) => {
      await waitFor("running", () => supervisor.isReady(), { timeoutMs: 10_000 });
      supervisor.kill("metered");
      await waitFor(
        "restarted",
        () => supervisor.isReady() && supervisor.status()[0]!.restarts === 1,
        {
          timeoutMs: 10_000,
        },
      );
      const text = await (await fetch(`${url}/metrics`)).text();
      assert.match(text, /supervisor_child_restarts_total\{child="metered"\} [1-9]/);
      assert.match(text, /supervisor_child_up\{child="metered"\} 1/);
      assert.match(text, /supervisor_events_total\{kind="killed"\} [1-9]/);
    },
  );
});

Deno.test("GET /events returns the timeline, after a given seq when asked", async () => {
  await withApi([fixtureSpec("a")], async ({ url, supervisor }) => {
    await waitFor("running", () => supervisor.isReady(), { timeoutMs: 10_000 });
    supervisor.emit({ kind: "fault-start", child: "a", message: "partitioned a" });
    const { body } = await getJson(`${url}/events`);
    const kinds = body.events.map((e: { kind: string }) => e.kind);
    assert.deepEqual(kinds, ["started", "ready", "fault-start"]);
    const later = await getJson(`${url}/events?after=${body.events[1].seq}`);
    assert.deepEqual(later.body.events.map((e: { kind: string }) => e.kind), ["fault-start"]);
  });
});

Deno.test("with a token, an admin call without it is refused 401 and one with it works", async () => {
  const token = "correct-horse-battery";
  await withApi([fixtureSpec("a")], async ({ url, supervisor }) => {
    await waitFor("running", () => supervisor.isReady(), { timeoutMs: 10_000 });
    const pid = childOf(supervisor.status(), "a").pid;
    const refused = await control(url, { command: "kill a" });
    assert.equal(refused.status, 401);
    assert.match(refused.body.output, /Unauthorized: expected header Authorization: Bearer/);
    const wrong = await control(url, { command: "kill a" }, { authorization: "Bearer nope" });
    assert.equal(wrong.status, 401);
    const status = await fetch(`${url}/status`);
    assert.equal(status.status, 401);
    await status.body?.cancel();
    assert.equal(childOf(supervisor.status(), "a").pid, pid, "nothing was killed");

    const accepted = await control(url, { command: "status" }, {
      authorization: `Bearer ${token}`,
    });
    assert.equal(accepted.status, 200);
    assert.equal(accepted.body.ok, true);
    // Health and metrics stay open for probes and scrapers.
    const healthz = await fetch(`${url}/healthz`);
    assert.equal(healthz.status, 200);
    await healthz.body?.cancel();
  }, token);
});

Deno.test("POST /control refuses cross-site and non-JSON requests and changes nothing", async () => {
  await withApi([fixtureSpec("a")], async ({ url, supervisor }) => {
    await waitFor("a running", () => supervisor.status()[0]?.state === "running");
    const pid = supervisor.status()[0]?.pid;
    const attempts: Array<Record<string, string>> = [
      // A form post from any web page: a "simple" request with no preflight.
      { "content-type": "text/plain" },
      { "content-type": "application/x-www-form-urlencoded" },
      { "content-type": "application/json", "sec-fetch-site": "cross-site" },
      { "content-type": "application/json", origin: "http://evil.example" },
    ];
    for (const headers of attempts) {
      const response = await fetch(`${url}/control`, {
        method: "POST",
        headers,
        body: JSON.stringify({ command: "kill a" }),
      });
      assert.equal(response.status, 403, JSON.stringify(headers));
      assert.match((await response.json()).output, /^Forbidden: /);
    }
    assert.equal(supervisor.status()[0]?.pid, pid, "nothing was killed");
    assert.equal(supervisor.status()[0]?.restarts, 0);
    const sameOrigin = await control(url, { command: "status" }, { origin: url });
    assert.equal(sameOrigin.status, 200);
  });
});

/** Sends one HTTP/1.1 request with exactly these headers (fetch sets Host itself). */
async function rawRequest(
  port: number,
  lines: { method: string; path: string; headers: Record<string, string>; body?: string },
): Promise<{ status: number; text: string }> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const body = lines.body ?? "";
    const head = [
      `${lines.method} ${lines.path} HTTP/1.1`,
      ...Object.entries(lines.headers).map(([name, value]) => `${name}: ${value}`),
      `content-length: ${new TextEncoder().encode(body).byteLength}`,
      "connection: close",
    ].join("\r\n");
    await connection.write(new TextEncoder().encode(`${head}\r\n\r\n${body}`));
    let text = "";
    for await (const chunk of connection.readable.pipeThrough(new TextDecoderStream())) {
      text += chunk;
    }
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text };
  } finally {
    try {
      connection.close();
    } catch { /* closed by the reader */ }
  }
}

Deno.test("a DNS-rebinding request (Host not this supervisor) is refused 421 and kills nothing", async () => {
  await withApi([fixtureSpec("a")], async ({ url, supervisor }) => {
    await waitFor("a running", () => supervisor.status()[0]?.state === "running");
    const pid = supervisor.status()[0]?.pid;
    const port = Number(new URL(url).port);
    // The page on evil.example, now resolving to 127.0.0.1, is "same-origin" to its browser.
    const evil = `evil.example:${port}`;
    const kill = await rawRequest(port, {
      method: "POST",
      path: "/control",
      headers: {
        host: evil,
        origin: `http://${evil}`,
        "sec-fetch-site": "same-origin",
        "content-type": "application/json",
      },
      body: JSON.stringify({ command: "kill a" }),
    });
    assert.equal(kill.status, 421, kill.text);
    const answer = JSON.parse(kill.text.slice(kill.text.indexOf("\r\n\r\n") + 4));
    assert.match(answer.output, /^Misdirected request: Host "evil\.example:\d+" does not name/);
    for (const host of [evil, `127.0.0.1:${port + 1}`, `127.0.0.1`]) {
      const status = await rawRequest(port, { method: "GET", path: "/status", headers: { host } });
      assert.equal(status.status, 421, `Host ${host}: ${status.text}`);
    }
    // A missing or malformed Host never reaches a route: the HTTP layer answers 400.
    for (const host of ["", "a b"]) {
      const status = await rawRequest(port, { method: "GET", path: "/status", headers: { host } });
      assert.equal(status.status, 400, `Host ${host}: ${status.text}`);
    }
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /^supervisor_http_host_refused_total(\{[^}]*\})? 4$/m);
    assert.equal(supervisor.status()[0]?.pid, pid, "nothing was killed");
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
      const status = await rawRequest(port, { method: "GET", path: "/status", headers: { host } });
      assert.equal(status.status, 200, `Host ${host}: ${status.text}`);
    }
  });
});

Deno.test("POST /control with a body over the limit is answered 413 without being buffered", async () => {
  await withApi([], async ({ url }) => {
    const declared = await fetch(`${url}/control`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ command: "x".repeat(1024 * 1024) }),
    });
    assert.equal(declared.status, 413);
    assert.match(
      (await declared.json()).output,
      /at most 16384 bytes \(SUPERVISOR_MAX_REQUEST_BYTES\)/,
    );
    // Without a Content-Length (chunked), the body is cancelled once past the limit: the
    // client's stream is not read to its end.
    const chunk = new Uint8Array(16 * 1024).fill(0x20);
    let pulled = 0;
    const total = 256;
    const streamed = await fetch(`${url}/control`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new ReadableStream<Uint8Array>({
        pull(controller) {
          if (pulled++ === total) controller.close();
          else controller.enqueue(chunk);
        },
      }),
    });
    assert.equal(streamed.status, 413);
    await streamed.body?.cancel();
    assert.ok(pulled < total, `the client's 4 MiB stream was read to its end (${pulled} chunks)`);
    const { status, body } = await control(url, { command: "help" });
    assert.equal(status, 200, body.output);
  });
});
