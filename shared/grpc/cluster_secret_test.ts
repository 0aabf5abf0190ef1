import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthClient,
} from "@trading/proto/health";
import {
  LeaderResponse,
  RaftNodeClient,
  type RaftNodeServer,
  RaftNodeService,
} from "@trading/proto";
import { clusterSecretMatches, generateClusterSecret } from "./cluster_secret.ts";
import {
  ConfigError,
  isLoopbackHost,
  loadConfig,
  requireClusterSecretBeyondLoopback,
} from "../runtime/config.ts";
import { commonEnv } from "../runtime/config.ts";
import {
  GRPC_OPTIONS,
  insecure,
  isGrpcStatus,
  startGrpcServer,
  unary,
  withClusterSecret,
} from "./grpc.ts";
import { addGrpcHealth, Health } from "../runtime/health.ts";
import { metricValue } from "../runtime/metrics.ts";

const SECRET = "s3cret-of-this-cluster-0123456789";

function notImplemented(_call: unknown, callback: grpc.sendUnaryData<never>) {
  callback({ code: grpc.status.UNIMPLEMENTED, details: "not in this test" });
}

const raftNode: RaftNodeServer = {
  apply: notImplemented,
  applyBatch: notImplemented,
  read: notImplemented,
  join: notImplemented,
  leave: notImplemented,
  transferLeadership: notImplemented,
  status: notImplemented,
  leader: (_call, callback) => callback(null, LeaderResponse.fromPartial({ leaderId: "raft-1" })),
};

/** Calls refused so far for `method` and `reason`, from the process registry. */
function refusals(method: string, reason: string): Promise<number> {
  return metricValue("grpc_calls_refused_total", { method, reason });
}

async function withSecretServer(run: (address: string) => Promise<void>): Promise<void> {
  const health = new Health("secret-test");
  let grpcHealth: { close(): void } | undefined;
  const server = await startGrpcServer(0, (s) => {
    s.addService(RaftNodeService, raftNode);
    grpcHealth = addGrpcHealth(s, health, { pollMs: 20 });
  }, { clusterSecret: SECRET });
  try {
    await run(`127.0.0.1:${server.port}`);
  } finally {
    grpcHealth?.close();
    await server.close(100);
  }
}

/** Client options that send no secret, whatever this process's environment holds. */
const NO_SECRET: grpc.ClientOptions = { ...GRPC_OPTIONS, interceptors: [] };
const LEADER = "/trading.v1.RaftNode/Leader";

Deno.test("startGrpcServer() with a cluster secret refuses a call without it, and counts it", async () => {
  await withSecretServer(async (address) => {
    const client = new RaftNodeClient(address, insecure(), NO_SECRET);
    try {
      const before = await refusals(LEADER, "missing");
      await assert.rejects(
        () => unary(client, client.leader, {}),
        (error) => isGrpcStatus(error, grpc.status.UNAUTHENTICATED),
      );
      assert.equal(await refusals(LEADER, "missing"), before + 1);
    } finally {
      client.close();
    }
  });
});

Deno.test("startGrpcServer() with a cluster secret refuses a wrong secret", async () => {
  await withSecretServer(async (address) => {
    const client = new RaftNodeClient(address, insecure(), withClusterSecret(`${SECRET}x`));
    try {
      const before = await refusals(LEADER, "wrong");
      await assert.rejects(
        () => unary(client, client.leader, {}),
        (error) => isGrpcStatus(error, grpc.status.UNAUTHENTICATED),
      );
      assert.equal(await refusals(LEADER, "wrong"), before + 1);
    } finally {
      client.close();
    }
  });
});

Deno.test("startGrpcServer() with a cluster secret serves a client that sends it", async () => {
  await withSecretServer(async (address) => {
    const client = new RaftNodeClient(address, insecure(), withClusterSecret(SECRET));
    try {
      assert.equal((await unary(client, client.leader, {})).leaderId, "raft-1");
    } finally {
      client.close();
    }
  });
});

Deno.test("startGrpcServer() with a cluster secret leaves health checks open", async () => {
  await withSecretServer(async (address) => {
    const client = new HealthClient(address, insecure(), NO_SECRET);
    try {
      const response = await unary(client, client.check, { service: "" });
      assert.equal(response.status, ServingStatus.SERVING);
    } finally {
      client.close();
    }
  });
});

Deno.test("generateClusterSecret() makes a new secret the config accepts every time", () => {
  const a = generateClusterSecret();
  const b = generateClusterSecret();
  assert.notEqual(a, b);
  assert.equal(a.length, 43);
  const shape = commonEnv({ httpPort: 1 });
  assert.equal(loadConfig(shape, { CLUSTER_SECRET: a }).CLUSTER_SECRET, a);
});

Deno.test("clusterSecretMatches() accepts only the same string", () => {
  assert.equal(clusterSecretMatches(SECRET, SECRET), true);
  assert.equal(clusterSecretMatches(SECRET, `${SECRET}x`), false);
  assert.equal(clusterSecretMatches(SECRET, SECRET.slice(0, -1) + "!"), false);
  assert.equal(clusterSecretMatches(SECRET, undefined), false);
  assert.equal(clusterSecretMatches(SECRET, Uint8Array.from([1])), false);
});

Deno.test("loadConfig() refuses a CLUSTER_SECRET shorter than 16 characters without showing it", () => {
  assert.throws(
    () => loadConfig(commonEnv({ httpPort: 1 }), { CLUSTER_SECRET: "short" }),
    (error) =>
      error instanceof ConfigError &&
      error.message ===
        "Invalid CLUSTER_SECRET (value not shown, 5 characters): expected a secret of 16-256 characters without white space",
  );
});

Deno.test("requireClusterSecretBeyondLoopback() demands a secret only for a non-loopback bind", () => {
  requireClusterSecretBeyondLoopback(undefined, [{
    variable: "RAFT_BIND_ADDR",
    host: "127.0.0.1",
  }]);
  requireClusterSecretBeyondLoopback(SECRET, [{ variable: "RAFT_BIND_ADDR", host: "0.0.0.0" }]);
  assert.throws(
    () =>
      requireClusterSecretBeyondLoopback(undefined, [
        { variable: "RAFT_BIND_ADDR", host: "0.0.0.0" },
      ]),
    (error) =>
      error instanceof ConfigError && error.variable === "CLUSTER_SECRET" &&
      error.message ===
        'Missing CLUSTER_SECRET: expected a secret when RAFT_BIND_ADDR "0.0.0.0" is not a loopback address',
  );
  assert.equal(isLoopbackHost("10.0.0.1"), false);
});
