// startGrpcServer()'s connection limits on a real grpc-js server and client: the cap, the
// handshake timeout and the idle timeout (shared/net/connection_limits.ts).
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthClient,
} from "@trading/proto/health";
import { waitFor } from "@trading/testing";
import { type GrpcServer, insecure, startGrpcServer, unary } from "./grpc.ts";
import { addGrpcHealth, Health } from "../runtime/health.ts";
import type { GrpcLimits } from "../net/connection_limits.ts";
import { metricValue } from "../runtime/metrics.ts";

async function withServer(
  limits: GrpcLimits,
  name: string,
  run: (server: GrpcServer) => Promise<void>,
): Promise<void> {
  const health = new Health(name);
  let grpcHealth: { close(): void } | undefined;
  const server = await startGrpcServer(0, (s) => {
    grpcHealth = addGrpcHealth(s, health, { pollMs: 50 });
  }, { limits, name });
  try {
    await run(server);
  } finally {
    grpcHealth?.close();
    await server.close(200);
  }
}

/** A client on its own connection (grpc-js shares one between clients with like options). */
function ownClient(port: number, options: grpc.ClientOptions = {}): HealthClient {
  return new HealthClient(`127.0.0.1:${port}`, insecure(), {
    "grpc.use_local_subchannel_pool": 1,
    ...options,
  });
}

async function check(client: HealthClient): Promise<ServingStatus> {
  const response = await unary(client, client.check, { service: "" }, { deadlineMs: 3000 });
  return response.status;
}

/**
 * Resolves with the ms from `start` (default now) until the server closes `conn`, or
 * Infinity when it has not within 5 s (then the test closes it).
 */
async function closedAfter(conn: Deno.TcpConn, start = performance.now()): Promise<number> {
  const buffer = new Uint8Array(4096);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, 5000);
  try {
    while ((await conn.read(buffer)) !== null) { /* drain */ }
  } catch {
    // reset (or closed by the timer): closed all the same
  }
  clearTimeout(timer);
  if (timedOut) return Infinity;
  conn.close();
  return performance.now() - start;
}

const slow = { maxConnections: 1000, idleTimeoutMs: 60_000, handshakeTimeoutMs: 60_000 };

Deno.test("startGrpcServer() closes a connection over its cap at once and counts it; a client gets in once one closes", async () => {
  await withServer({ ...slow, maxConnections: 2 }, "grpc-cap", async (server) => {
    const first = ownClient(server.port);
    const second = ownClient(server.port);
    try {
      assert.ok(await check(first) !== undefined);
      assert.ok(await check(second) !== undefined);
      assert.equal(server.openConnections(), 2);
      const third = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      const ms = await closedAfter(third);
      assert.ok(ms < 1000, `the third connection was closed after ${ms} ms`);
      assert.equal(
        await metricValue("net_connections_refused_total", { server: "grpc-cap" }),
        1,
      );
      first.close();
      await waitFor("one connection held", () => server.openConnections() === 1, {
        timeoutMs: 5000,
      });
      const late = ownClient(server.port);
      try {
        assert.ok(await check(late) !== undefined);
      } finally {
        late.close();
      }
    } finally {
      first.close();
      second.close();
    }
  });
});

Deno.test("startGrpcServer() closes a connection whose HTTP/2 preface does not come in time; a real client is served", async () => {
  await withServer({ ...slow, handshakeTimeoutMs: 300 }, "grpc-handshake", async (server) => {
    const start = performance.now();
    const silent = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const partial = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await partial.write(new TextEncoder().encode("PRI * HTTP/2.0"));
    const closed = await Promise.all([closedAfter(silent, start), closedAfter(partial, start)]);
    for (const ms of closed) {
      assert.ok(ms >= 250 && ms < 3000, `closed after ${ms.toFixed(0)} ms`);
    }
    assert.equal(
      await metricValue("net_connections_closed_total", {
        server: "grpc-handshake",
        reason: "handshake",
      }),
      2,
    );
    const client = ownClient(server.port);
    try {
      await new Promise((resolve) => setTimeout(resolve, 600));
      assert.ok(await check(client) !== undefined, "a real client's connection stays");
    } finally {
      client.close();
    }
  });
});

Deno.test("startGrpcServer() closes a silent connection after its idle timeout, keeps one that pings, and the silent client reconnects", async () => {
  await withServer({ ...slow, idleTimeoutMs: 1000 }, "grpc-idle", async (server) => {
    const quiet = ownClient(server.port);
    const pinging = ownClient(server.port, {
      "grpc.keepalive_time_ms": 250,
      "grpc.keepalive_timeout_ms": 10_000,
      "grpc.keepalive_permit_without_calls": 1,
    });
    try {
      await check(quiet);
      await check(pinging);
      assert.equal(server.openConnections(), 2);
      await waitFor("one connection held", () => server.openConnections() === 1, {
        timeoutMs: 5000,
      });
      // Still 1 a while later: the pinging client's connection is not idle.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(server.openConnections(), 1);
      assert.ok(
        await metricValue("net_connections_closed_total", {
          server: "grpc-idle",
          reason: "idle",
        }) >= 1,
      );
      assert.ok(await check(quiet) !== undefined, "the closed client reconnects");
    } finally {
      quiet.close();
      pinging.close();
    }
  });
});
