import assert from "node:assert/strict";
import { serveHttp } from "./serve_http.ts";
import { HTTP_LIMIT_DEFAULTS, loadConnectionLimits } from "./connection_limits.ts";
import { ConfigError } from "../runtime/config.ts";
import { metricValue } from "../runtime/metrics.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A raw TCP client: what it wrote, what it read, and when the server closed it. */
async function rawClient(port: number, send = "") {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  if (send) await conn.write(encoder.encode(send));
  const openedAt = performance.now();
  let received = "";
  // Never waits more than 5 s for the server: then `closed` is Infinity.
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, 5000);
  const closed = (async () => {
    const buffer = new Uint8Array(65536);
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        received += decoder.decode(buffer.subarray(0, n));
      }
    } catch {
      // reset by the server: closed all the same
    }
    clearTimeout(timer);
    if (timedOut) return Infinity;
    try {
      conn.close();
    } catch {
      // already closed
    }
    return performance.now() - openedAt;
  })();
  return {
    conn,
    closed,
    received: () => received,
    write: (text: string) => conn.write(encoder.encode(text)),
  };
}

const fast = { maxConnections: 4, idleTimeoutMs: 400, readTimeoutMs: 400 };

Deno.test("serveHttp() closes a connection over its cap at once, counts it, and serves again once one closes", async () => {
  const server = await serveHttp(() => new Response("ok"), {
    port: 0,
    limits: { ...fast, maxConnections: 2, readTimeoutMs: 5000 },
    name: "cap-test",
  });
  try {
    const a = await rawClient(server.port);
    const b = await rawClient(server.port);
    while (server.openConnections() < 2) await new Promise((r) => setTimeout(r, 10));
    const c = await rawClient(server.port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    await c.closed;
    assert.equal(c.received(), "", "the connection over the cap is closed before any answer");
    assert.equal(
      await metricValue("net_connections_refused_total", { server: "cap-test" }),
      1,
    );
    a.conn.close();
    while (server.openConnections() > 1) await new Promise((r) => setTimeout(r, 10));
    const response = await fetch(`http://127.0.0.1:${server.port}/`);
    assert.equal(await response.text(), "ok");
    b.conn.close();
    await Promise.all([a.closed, b.closed]);
  } finally {
    await server.close(0);
  }
});

Deno.test("serveHttp() answers 408 and closes a client that sends half a request head, or nothing, within its read timeout", async () => {
  const server = await serveHttp(() => new Response("ok"), { port: 0, limits: fast, name: "slow" });
  try {
    const half = await rawClient(server.port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    const silent = await rawClient(server.port);
    // A slowloris: one header byte every 100 ms, never the end of the head.
    const drip = await rawClient(server.port, "GET / HTTP/1.1\r\n");
    const dripping = setInterval(() => void drip.write("X").catch(() => {}), 100);
    try {
      for (const client of [half, silent, drip]) {
        const ms = await client.closed;
        assert.match(client.received(), /^HTTP\/1\.1 408 /);
        // 400 ms, checked every 100 ms; far from Node's default of 60 s (checked every 30 s).
        assert.ok(ms < 3000, `closed after ${ms.toFixed(0)} ms`);
      }
    } finally {
      clearInterval(dripping);
    }
    assert.ok(
      await metricValue("net_connections_closed_total", { server: "slow", reason: "read" }) >= 3,
    );
  } finally {
    await server.close(0);
  }
});

Deno.test("serveHttp() closes a kept-alive connection idle past its timeout, but never cuts a streamed response", async () => {
  let stop = () => {};
  const server = await serveHttp((request) => {
    if (new URL(request.url).pathname !== "/stream") return new Response("ok");
    let n = 0;
    let timer: ReturnType<typeof setInterval> | undefined;
    return new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          // One event every 300 ms, for 6 events: 1.8 s, beyond both timeouts (400 ms).
          timer = setInterval(() => {
            controller.enqueue(encoder.encode(`data: ${n++}\n\n`));
            if (n === 6) {
              clearInterval(timer);
              controller.close();
            }
          }, 300);
          stop = () => clearInterval(timer);
        },
        cancel: () => clearInterval(timer),
      }),
      { headers: { "content-type": "text/event-stream" } },
    );
  }, { port: 0, limits: fast, name: "idle" });
  try {
    const kept = await rawClient(server.port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    const streamed = await rawClient(
      server.port,
      "GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    const keptMs = await kept.closed;
    assert.match(kept.received(), /^HTTP\/1\.1 200 /);
    assert.ok(keptMs >= 300 && keptMs < 3000, `idle connection closed after ${keptMs} ms`);
    await streamed.closed;
    assert.match(streamed.received(), /data: 5\n\n/, "the stream ran to its end");
  } finally {
    stop();
    await server.close(0);
  }
});

Deno.test("serveHttp() answers 431 to a request head over 16 KiB, 400 to a malformed Host, 500 when the handler throws", async () => {
  let calls = 0;
  const server = await serveHttp((request) => {
    calls++;
    if (new URL(request.url).pathname === "/throw") throw new Error("boom");
    return new Response(request.headers.get("host") ?? "");
  }, { port: 0, limits: fast });
  try {
    const big = await rawClient(
      server.port,
      `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${"a".repeat(17 * 1024)}\r\n\r\n`,
    );
    await big.closed;
    assert.match(big.received(), /^HTTP\/1\.1 431 /);
    const badHost = await rawClient(
      server.port,
      "GET / HTTP/1.1\r\nHost: evil/../x@y\r\nConnection: close\r\n\r\n",
    );
    await badHost.closed;
    assert.match(badHost.received(), /^HTTP\/1\.1 400 /);
    assert.equal(calls, 0, "the handler saw neither");
    const thrown = await fetch(`http://127.0.0.1:${server.port}/throw`);
    assert.equal(thrown.status, 500);
    await thrown.body?.cancel();
    const fine = await fetch(`http://127.0.0.1:${server.port}/`);
    assert.equal(await fine.text(), `127.0.0.1:${server.port}`);
  } finally {
    await server.close(0);
  }
});

Deno.test("serveHttp() reads a request body and serves a POST", async () => {
  const server = await serveHttp(
    async (request) => new Response(`${request.method} ${await request.text()}`),
    { port: 0, limits: fast },
  );
  try {
    const response = await fetch(`http://127.0.0.1:${server.port}/`, {
      method: "POST",
      body: "hello",
    });
    assert.equal(await response.text(), "POST hello");
  } finally {
    await server.close(0);
  }
});

Deno.test("loadConnectionLimits() has the documented defaults and names a malformed variable", () => {
  assert.deepEqual(loadConnectionLimits({}).http, HTTP_LIMIT_DEFAULTS);
  assert.equal(loadConnectionLimits({ GRPC_MAX_CONNECTIONS: "7" }).grpc.maxConnections, 7);
  assert.throws(
    () => loadConnectionLimits({ HTTP_READ_TIMEOUT_MS: "soon" }),
    (error) => error instanceof ConfigError && /HTTP_READ_TIMEOUT_MS "soon"/.test(error.message),
  );
  assert.throws(
    () => loadConnectionLimits({ GRPC_MAX_CONNECTIONS: "0" }),
    (error) => error instanceof ConfigError && /GRPC_MAX_CONNECTIONS/.test(error.message),
  );
});
