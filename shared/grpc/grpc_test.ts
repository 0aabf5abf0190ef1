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
import { Buffer } from "node:buffer";
import { waitFor } from "@trading/testing";
import {
  GRPC_MAX_CONCURRENT_STREAMS,
  insecure,
  isGrpcStatus,
  startGrpcServer,
  unary,
} from "./grpc.ts";
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

/** A unary method whose handler holds every call until released (raw bytes, no proto). */
const HOLD_SERVICE: grpc.ServiceDefinition = {
  hold: {
    path: "/test.Hold/Hold",
    requestStream: false,
    responseStream: false,
    requestSerialize: (value: Uint8Array) => Buffer.from(value),
    requestDeserialize: (bytes: Buffer) => bytes,
    responseSerialize: (value: Uint8Array) => Buffer.from(value),
    responseDeserialize: (bytes: Buffer) => bytes,
    originalName: "hold",
  },
};

async function concurrentHandlers(calls: number, maxConcurrentStreams?: number) {
  let running = 0;
  let most = 0;
  const held: (() => void)[] = [];
  const server = await startGrpcServer(0, (s) => {
    s.addService(HOLD_SERVICE, {
      hold: (_call: unknown, callback: grpc.sendUnaryData<Uint8Array>) => {
        most = Math.max(most, ++running);
        held.push(() => {
          running--;
          callback(null, new Uint8Array(0));
        });
      },
    });
  }, maxConcurrentStreams === undefined ? {} : { maxConcurrentStreams });
  const Client = grpc.makeGenericClientConstructor(HOLD_SERVICE, "Hold");
  const client = new Client(`127.0.0.1:${server.port}`, insecure());
  try {
    let done = 0;
    const finished = new Promise<void>((resolve, reject) => {
      for (let i = 0; i < calls; i++) {
        (client as unknown as {
          hold(r: Uint8Array, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void): void;
        }).hold(new Uint8Array(0), { deadline: Date.now() + 60_000 }, (error) => {
          if (error) reject(error);
          else if (++done === calls) resolve();
        });
      }
    });
    // The first calls up to the cap are held; the others wait for a stream, then run as
    // held ones are released.
    const cap = Math.min(calls, maxConcurrentStreams ?? GRPC_MAX_CONCURRENT_STREAMS);
    await waitFor("the first calls to be held", () => held.length >= cap, { timeoutMs: 30_000 });
    while (done < calls) {
      for (const release of held.splice(0)) release();
      await waitFor("more calls to be held or all done", () => held.length > 0 || done === calls, {
        timeoutMs: 30_000,
        intervalMs: 5,
      });
    }
    await finished;
    return most;
  } finally {
    client.close();
    await server.close(100);
  }
}

Deno.test("startGrpcServer() runs at most maxConcurrentStreams calls of one connection at once; the rest wait", async () => {
  assert.equal(await concurrentHandlers(8, 3), 3);
});

Deno.test("startGrpcServer() caps one connection at GRPC_MAX_CONCURRENT_STREAMS calls by default", async () => {
  assert.equal(
    await concurrentHandlers(GRPC_MAX_CONCURRENT_STREAMS + 20),
    GRPC_MAX_CONCURRENT_STREAMS,
  );
});
