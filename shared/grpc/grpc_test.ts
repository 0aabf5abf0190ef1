// The gRPC smoke test: grpc-js over Deno's HTTP/2 layer is the riskiest dependency we
// have, so this runs a real server and client: unary, server streaming, deadline, health.
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
  StatusResponse,
} from "@trading/proto";
import { insecure, isGrpcStatus, startGrpcServer, unary } from "./grpc.ts";
import { addGrpcHealth, Health } from "../runtime/health.ts";

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
  leader: (_call, callback) => {
    callback(null, LeaderResponse.fromPartial({ leaderId: "raft-1", leaderAddr: "x:1", term: 7 }));
  },
  status: (_call, callback) => {
    // Slower than the deadline the test gives it.
    setTimeout(() => callback(null, StatusResponse.fromPartial({ nodeId: "raft-1" })), 500);
  },
};

async function withServer(
  run: (address: string, health: Health, ready: { value: boolean }) => Promise<void>,
) {
  const health = new Health("smoke");
  const ready = { value: false };
  health.addCheck("test", () => ready.value || "not yet");
  let grpcHealth: { close(): void } | undefined;
  const server = await startGrpcServer(0, (s) => {
    s.addService(RaftNodeService, raftNode);
    grpcHealth = addGrpcHealth(s, health, { pollMs: 20 });
  });
  try {
    await run(`127.0.0.1:${server.port}`, health, ready);
  } finally {
    grpcHealth?.close();
    await server.close(100);
  }
}

Deno.test("gRPC unary call returns the typed response", async () => {
  await withServer(async (address) => {
    const client = new RaftNodeClient(address, insecure());
    try {
      const response = await unary(client, client.leader, {}, { deadlineMs: 2000 });
      assert.deepEqual(response, { leaderId: "raft-1", leaderAddr: "x:1", term: 7 });
    } finally {
      client.close();
    }
  });
});

Deno.test("gRPC call past its deadline fails with DEADLINE_EXCEEDED", async () => {
  await withServer(async (address) => {
    const client = new RaftNodeClient(address, insecure());
    try {
      const error = await unary(client, client.status, {}, { deadlineMs: 100 }).catch((e) => e);
      assert.ok(isGrpcStatus(error, grpc.status.DEADLINE_EXCEEDED), String(error));
    } finally {
      client.close();
    }
  });
  // The server's delayed callback fires after the test; let it run before the sanitizer.
  await new Promise((resolve) => setTimeout(resolve, 500));
});

Deno.test("gRPC health Check follows readiness", async () => {
  await withServer(async (address, _health, ready) => {
    const client = new HealthClient(address, insecure());
    try {
      const before = await unary(client, client.check, { service: "" });
      assert.equal(before.status, ServingStatus.NOT_SERVING);
      ready.value = true;
      const after = await unary(client, client.check, { service: "smoke" });
      assert.equal(after.status, ServingStatus.SERVING);
      const unknown = await unary(client, client.check, { service: "nope" }).catch((e) => e);
      assert.ok(isGrpcStatus(unknown, grpc.status.NOT_FOUND));
    } finally {
      client.close();
    }
  });
});

Deno.test("gRPC server streaming: health Watch sends each status change", async () => {
  await withServer(async (address, health, ready) => {
    const client = new HealthClient(address, insecure());
    try {
      const stream = client.watch({ service: "" });
      const seen: ServingStatus[] = [];
      for await (const message of stream) {
        seen.push((message as { status: ServingStatus }).status);
        if (seen.length === 1) ready.value = true;
        if (seen.length === 2) health.setShuttingDown();
        if (seen.length === 3) break;
      }
      stream.cancel();
      assert.deepEqual(seen, [
        ServingStatus.NOT_SERVING,
        ServingStatus.SERVING,
        ServingStatus.NOT_SERVING,
      ]);
    } finally {
      client.close();
    }
  });
});

Deno.test("unary() removes its abort listener when the call completes", async () => {
  await withServer(async (address) => {
    const client = new RaftNodeClient(address, insecure());
    const controller = new AbortController();
    let listeners = 0;
    const signal = controller.signal;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<typeof add>) => {
      listeners++;
      return add(...args);
    }) as typeof signal.addEventListener;
    signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      listeners--;
      return remove(...args);
    }) as typeof signal.removeEventListener;
    try {
      for (let i = 0; i < 20; i++) await unary(client, client.leader, {}, { signal });
      assert.equal(listeners, 0);
    } finally {
      client.close();
    }
  });
});
