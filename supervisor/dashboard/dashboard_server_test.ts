import assert from "node:assert/strict";
import { waitFor } from "@trading/testing";
import type { ChildSpecInput } from "../supervision/child_spec.ts";
import { defaultCommands } from "../control/commands.ts";
import { serveControl } from "../control/control_server.ts";
import type { DashboardSnapshot } from "./dashboard_aggregator.ts";
import { DASHBOARD_ASSET_DIR, DASHBOARD_ASSETS, DashboardServer } from "./dashboard_server.ts";
import { LogMultiplexer } from "../supervision/log_multiplexer.ts";
import { Supervisor } from "../supervision/supervisor.ts";
import { probedFixtureSpec } from "../testdata/fixtures.ts";

const TOKEN = "s3cret-token-for-tests";

/** A supervisor with its API and the dashboard on a free port. */
async function withDashboard(
  specs: ChildSpecInput[],
  test: (api: { url: string; supervisor: Supervisor; dashboard: DashboardServer }) => Promise<void>,
  token?: string,
  maxStreamBufferBytes?: number,
): Promise<void> {
  const output = new LogMultiplexer({ pretty: false, write: () => {} });
  const supervisor = new Supervisor({ specs, output, probeIntervalMs: 200 });
  const dashboard = new DashboardServer(supervisor, {
    tokenRequired: token !== undefined,
    intervalMs: 200,
    scrapeEveryRounds: 1,
    ...(maxStreamBufferBytes === undefined ? {} : { maxStreamBufferBytes }),
  });
  const server = await serveControl(supervisor, {
    hostname: "127.0.0.1",
    port: 0,
    token,
    commands: defaultCommands(),
    routes: dashboard.routes,
    publicRoutes: dashboard.publicRoutes,
  });
  try {
    supervisor.start();
    await test({ url: `http://127.0.0.1:${server.port}`, supervisor, dashboard });
  } finally {
    await supervisor.shutdown("test");
    await dashboard.close();
    await server.close();
  }
}

interface ServerSentEvent {
  event: string;
  data: unknown;
}

/** Reads server-sent events from a response body. */
class EventReader {
  #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";
  constructor(response: Response) {
    this.#reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next event, or undefined when the stream ended. */
  async next(): Promise<ServerSentEvent | undefined> {
    while (true) {
      const end = this.#buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        const fields = Object.fromEntries(
          block.split("\n").map((
            line,
          ) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 2)]),
        );
        if (fields.event === undefined) continue; // the `retry:` preamble
        return { event: fields.event, data: JSON.parse(fields.data ?? "null") };
      }
      const { value, done } = await this.#reader.read();
      if (done) return undefined;
      this.#buffer += value;
    }
  }

  /** Reads until an event satisfies `match`; throws when the stream ends first. */
  async until(match: (event: ServerSentEvent) => boolean): Promise<ServerSentEvent> {
    while (true) {
      const event = await this.next();
      if (!event) throw new Error("The stream ended: expected a matching event");
      if (match(event)) return event;
    }
  }

  cancel(): Promise<void> {
    return this.#reader.cancel();
  }
}

Deno.test("DashboardServer streams hello, a snapshot per round, timeline events, and ends at shutdown", async () => {
  await withDashboard(
    [probedFixtureSpec("svc", [], { backoff: { initialMs: 50 } })],
    async ({ url, supervisor }) => {
      const response = await fetch(`${url}/dashboard/stream`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type")!, /^text\/event-stream/);
      const events = new EventReader(response);
      const hello = await events.next();
      assert.equal(hello?.event, "hello");

      const running = await events.until((e) =>
        e.event === "snapshot" &&
        (e.data as DashboardSnapshot).children.some((c) => c.state === "running" && c.healthy)
      );
      const child = (running.data as DashboardSnapshot).children[0]!;
      assert.equal(child.name, "svc");
      assert.ok(child.pid! > 0);

      const kill = await fetch(`${url}/control`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ command: "kill svc" }),
      });
      assert.equal(kill.status, 200);
      await kill.body?.cancel();
      const killed = await events.until((e) => e.event === "timeline");
      assert.equal((killed.data as { kind: string }).kind, "killed");
      const restarted = await events.until((e) =>
        e.event === "snapshot" && (e.data as DashboardSnapshot).children[0]!.restarts === 1
      );
      assert.notEqual((restarted.data as DashboardSnapshot).children[0]!.pid, child.pid);

      // The stream must end at shutdown, or the HTTP server could never close.
      await supervisor.shutdown("test");
      // The restarted child's "ready" may come first, when its probe is slower than the
      // snapshot above; until() throws if the stream ends without the shutdown.
      const last = await events.until((e) =>
        e.event === "timeline" && (e.data as { kind: string }).kind === "shutdown"
      );
      assert.equal((last.data as { kind: string }).kind, "shutdown");
      while (await events.next()) { /* drain until the server ends it */ }
    },
  );
});

Deno.test("DashboardServer without a token serves the stream to anyone on loopback", async () => {
  await withDashboard([], async ({ url }) => {
    const config = await (await fetch(`${url}/dashboard/config`)).json();
    assert.deepEqual(config, { tokenRequired: false });
    const response = await fetch(`${url}/dashboard/stream`);
    assert.equal(response.status, 200);
    await response.body?.cancel();
  });
});

Deno.test("DashboardServer with a token serves the page publicly but the stream only for a one-time ticket", async () => {
  await withDashboard([], async ({ url }) => {
    const page = await fetch(`${url}/`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.doesNotMatch(html, new RegExp(TOKEN), "the page never carries the token");
    assert.match(page.headers.get("content-security-policy")!, /default-src 'none'/);
    assert.deepEqual(await (await fetch(`${url}/dashboard/config`)).json(), {
      tokenRequired: true,
    });

    const noTicket = await fetch(`${url}/dashboard/stream`);
    assert.equal(noTicket.status, 401);
    await noTicket.body?.cancel();
    const anonymous = await fetch(`${url}/dashboard/ticket`, {
      method: "POST",
      headers: { "content-type": "application/json" },
    });
    assert.equal(anonymous.status, 401);
    await anonymous.body?.cancel();
    const status = await fetch(`${url}/status`);
    assert.equal(status.status, 401, "the data routes stay behind the token");
    await status.body?.cancel();

    const issued = await fetch(`${url}/dashboard/ticket`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(issued.status, 200);
    const { ticket } = await issued.json();
    const stream = await fetch(`${url}/dashboard/stream?ticket=${ticket}`);
    assert.equal(stream.status, 200);
    await stream.body?.cancel();
    const replay = await fetch(`${url}/dashboard/stream?ticket=${ticket}`);
    assert.equal(replay.status, 401, "a ticket is good for one stream only");
    await replay.body?.cancel();
  }, TOKEN);
});

Deno.test("DashboardServer serves every file of supervisor/dashboard/assets and the page loads nothing from elsewhere", async () => {
  const files = [];
  for await (const entry of Deno.readDir(DASHBOARD_ASSET_DIR)) files.push(entry.name);
  assert.deepEqual(files.sort(), Object.values(DASHBOARD_ASSETS).map((a) => a.file).sort());
  await withDashboard([], async ({ url }) => {
    for (const [path, asset] of Object.entries(DASHBOARD_ASSETS)) {
      const response = await fetch(`${url}${path}`);
      assert.equal(response.status, 200, path);
      assert.equal(response.headers.get("content-type"), asset.type);
      const body = await response.text();
      assert.doesNotMatch(body, /(src|href)="(https?:)?\/\//, `${path} references another origin`);
      assert.doesNotMatch(
        body,
        /@import|url\(\s*["']?(https?:)?\/\//,
        `${path} imports from elsewhere`,
      );
    }
  });
});

Deno.test("DashboardServer ends the stream of a client that never reads once its buffer is full, and counts it", async () => {
  const bound = 256 * 1024;
  await withDashboard(
    [],
    async ({ url, supervisor, dashboard }) => {
      const port = Number(new URL(url).port);
      // A client that asks for the stream and then never reads a byte.
      const stalled = await Deno.connect({ hostname: "127.0.0.1", port });
      await stalled.write(
        new TextEncoder().encode(
          `GET /dashboard/stream HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`,
        ),
      );
      const reading = await fetch(`${url}/dashboard/stream`);
      const events = new EventReader(reading);
      assert.equal((await events.next())?.event, "hello");
      await waitFor("both streams open", () => dashboard.openStreams === 2);
      let received = 0;
      const reader = (async () => {
        while (await events.next()) received++;
      })();
      try {
        // 16 KiB per event: the stalled client's socket buffers fill, then its queue does.
        const message = "x".repeat(16 * 1024);
        let sent = 0;
        while (dashboard.openStreams === 2 && sent < 8000) {
          supervisor.events.emit({ kind: "command", message });
          sent++;
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
        assert.equal(
          dashboard.openStreams,
          1,
          `the stalled stream is still open after ${sent} events`,
        );
        await waitFor("the reading client got every event", () => received >= sent);
        const metrics = await (await fetch(`${url}/metrics`)).text();
        assert.match(metrics, /^supervisor_sse_clients_dropped_total(\{[^}]*\})? 1$/m);
      } finally {
        stalled.close();
        await events.cancel();
        await reader.catch(() => {});
      }
    },
    undefined,
    bound,
  );
});
