// RaftClient against fake raft-nodes on real loopback gRPC: the redirects, retries and the
// read-after-uncertain-Apply rule, each with a node that misbehaves in one precise way.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import {
  type ApplyBatchResponse,
  type ApplyRequest,
  type ApplyResponse,
  ApplyResult,
  type RaftNodeServer,
  RaftNodeService,
  type ReadResponse,
} from "@trading/proto/raft";
import { OrderStatus } from "@trading/proto/orders";
import { type GrpcServer, startGrpcServer } from "./grpc.ts";
import { type RaftCall, RaftClient, RaftClientError } from "./raft_client.ts";
import { freePort } from "@trading/testing";

const ACCEPTED = { status: OrderStatus.ORDER_STATUS_ACCEPTED, reason: "" };

function request(orderId: string, payload = "p"): ApplyRequest {
  return {
    orderId,
    payload: new TextEncoder().encode(payload),
    outcome: ACCEPTED,
    symbol: "ACME",
    positionDelta: 1,
    maxPosition: 0,
  };
}

function hash(payload: string): Uint8Array {
  return new Uint8Array(
    createHash("sha256").update(new TextEncoder().encode(payload)).digest().subarray(0, 16),
  );
}

function applied(index: number, result = ApplyResult.APPLY_RESULT_APPLIED): ApplyResponse {
  return { result, outcome: ACCEPTED, raftIndex: index, leaderId: "", leaderAddr: "" };
}

function readResponse(fields: Partial<ReadResponse>): ReadResponse {
  return {
    found: false,
    outcome: undefined,
    raftIndex: 0,
    payloadHash: new Uint8Array(),
    notLeader: false,
    leaderId: "",
    leaderAddr: "",
    ...fields,
  };
}

type Answer<T> = T | { code: grpc.status; details: string } | "hang";

/** A fake raft-node: answers Apply and Read from scripted queues, counts the calls. */
class FakeNode {
  applies: ApplyRequest[] = [];
  batches: ApplyRequest[][] = [];
  reads: string[] = [];
  applyAnswers: Answer<ApplyResponse>[] = [];
  batchAnswers: Answer<ApplyBatchResponse>[] = [];
  readAnswers: Answer<ReadResponse>[] = [];
  #hung: Array<() => void> = [];
  server!: GrpcServer;

  get address(): string {
    return `127.0.0.1:${this.server.port}`;
  }

  async start(): Promise<this> {
    const answer = <T>(queue: Answer<T>[], callback: grpc.sendUnaryData<T>) => {
      const next = queue.length > 1 ? queue.shift()! : queue[0];
      if (next === undefined) {
        callback({ code: grpc.status.UNIMPLEMENTED, details: "no scripted answer" });
      } else if (next === "hang") {
        // Never answer in time; released (as an error) when the test ends.
        this.#hung.push(() => callback({ code: grpc.status.CANCELLED, details: "test over" }));
      } else if (typeof next === "object" && next !== null && "code" in next) {
        callback(next);
      } else {
        callback(null, next as T);
      }
    };
    const unimplemented = (_call: unknown, callback: grpc.sendUnaryData<never>) =>
      callback({ code: grpc.status.UNIMPLEMENTED, details: "not in this test" });
    const implementation: RaftNodeServer = {
      apply: (call, callback) => {
        this.applies.push(call.request);
        answer(this.applyAnswers, callback);
      },
      applyBatch: (call, callback) => {
        this.batches.push(call.request.requests);
        answer(this.batchAnswers, callback);
      },
      read: (call, callback) => {
        this.reads.push(call.request.orderId);
        answer(this.readAnswers, callback);
      },
      leader: unimplemented,
      join: unimplemented,
      leave: unimplemented,
      status: unimplemented,
      transferLeadership: unimplemented,
    };
    this.server = await startGrpcServer(0, (s) => s.addService(RaftNodeService, implementation));
    return this;
  }

  async close(): Promise<void> {
    for (const release of this.#hung) release();
    await this.server.close(100);
  }
}

async function withNodes(
  count: number,
  run: (nodes: FakeNode[]) => Promise<void>,
): Promise<void> {
  const nodes = await Promise.all(Array.from({ length: count }, () => new FakeNode().start()));
  try {
    await run(nodes);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
}

Deno.test("RaftClient follows a NOT_LEADER redirect, then goes to the leader directly", async () => {
  await withNodes(2, async ([follower, leader]) => {
    follower!.applyAnswers = [{
      ...applied(0, ApplyResult.APPLY_RESULT_NOT_LEADER),
      leaderId: "2",
      leaderAddr: leader!.address,
    }];
    leader!.applyAnswers = [applied(7), applied(8)];
    using client = new RaftClient({ addresses: [follower!.address] });
    assert.equal((await client.apply(request("o-1"))).raftIndex, 7);
    assert.equal((await client.apply(request("o-2"))).raftIndex, 8);
    assert.equal(follower!.applies.length, 1);
    assert.equal(leader!.applies.length, 2);
    assert.equal(client.leaderAddress, leader!.address);
  });
});

Deno.test("RaftClient reads after an Apply past its deadline and returns the stored outcome", async () => {
  await withNodes(1, async ([node]) => {
    node!.applyAnswers = ["hang"];
    node!.readAnswers = [readResponse({
      found: true,
      outcome: ACCEPTED,
      raftIndex: 12,
      payloadHash: hash("p"),
    })];
    const calls: RaftCall[] = [];
    using client = new RaftClient({
      addresses: [node!.address],
      deadlineMs: 150,
      onCall: (c) => calls.push(c),
    });
    const response = await client.apply(request("o-1"));
    assert.equal(response.result, ApplyResult.APPLY_RESULT_APPLIED);
    assert.equal(response.raftIndex, 12);
    assert.equal(node!.applies.length, 1, "the Apply was not sent a second time");
    assert.deepEqual(node!.reads, ["o-1"]);
    assert.deepEqual(calls.map((c) => `${c.kind}:${"error" in c ? "error" : "ok"}`), [
      "apply:error",
      "read:ok",
    ]);
  });
});

Deno.test("RaftClient applies again when the read after an uncertain Apply finds nothing", async () => {
  await withNodes(1, async ([node]) => {
    node!.applyAnswers = [
      { code: grpc.status.UNAVAILABLE, details: "leadership lost" },
      applied(3),
    ];
    node!.readAnswers = [readResponse({ found: false })];
    using client = new RaftClient({ addresses: [node!.address], initialBackoffMs: 1 });
    const response = await client.apply(request("o-1"));
    assert.equal(response.result, ApplyResult.APPLY_RESULT_APPLIED);
    assert.equal(response.raftIndex, 3);
    assert.equal(node!.applies.length, 2);
    assert.equal(node!.reads.length, 1);
  });
});

Deno.test("RaftClient reports CONFLICT when the read finds the id with another payload", async () => {
  await withNodes(1, async ([node]) => {
    node!.applyAnswers = [{ code: grpc.status.DEADLINE_EXCEEDED, details: "not applied in time" }];
    node!.readAnswers = [readResponse({
      found: true,
      outcome: { status: OrderStatus.ORDER_STATUS_REJECTED, reason: "max_notional" },
      raftIndex: 4,
      payloadHash: hash("another payload"),
    })];
    using client = new RaftClient({ addresses: [node!.address], initialBackoffMs: 1 });
    const response = await client.apply(request("o-1", "p"));
    assert.equal(response.result, ApplyResult.APPLY_RESULT_CONFLICT);
    assert.equal(response.outcome?.reason, "max_notional");
    assert.equal(node!.applies.length, 1);
  });
});

Deno.test("RaftClient follows a read redirect after an uncertain Apply", async () => {
  await withNodes(2, async ([old, leader]) => {
    old!.applyAnswers = [{ code: grpc.status.UNAVAILABLE, details: "leadership lost" }];
    old!.readAnswers = [
      readResponse({ notLeader: true, leaderId: "2", leaderAddr: leader!.address }),
    ];
    leader!.readAnswers = [readResponse({
      found: true,
      outcome: ACCEPTED,
      raftIndex: 9,
      payloadHash: hash("p"),
    })];
    using client = new RaftClient({ addresses: [old!.address], initialBackoffMs: 1 });
    const response = await client.apply(request("o-1"));
    assert.equal(response.raftIndex, 9);
    assert.equal(old!.applies.length, 1);
    assert.equal(leader!.applies.length, 0);
    assert.deepEqual(leader!.reads, ["o-1"]);
  });
});

Deno.test("RaftClient does not retry an Apply the node rejects as invalid", async () => {
  await withNodes(1, async ([node]) => {
    node!.applyAnswers = [{ code: grpc.status.INVALID_ARGUMENT, details: "bad order id" }];
    using client = new RaftClient({ addresses: [node!.address] });
    await assert.rejects(
      () => client.apply(request("")),
      (e: Error) => /bad order id/.test(e.message),
    );
    assert.equal(node!.applies.length, 1);
    assert.equal(node!.reads.length, 0);
  });
});

Deno.test("RaftClient gives up after maxAttempts with an uncertain error when nothing answers", async () => {
  using client = new RaftClient({
    addresses: [`127.0.0.1:${freePort()}`],
    maxAttempts: 3,
    initialBackoffMs: 1,
  });
  const error = await client.apply(request("o-1")).then(() => undefined, (e) => e);
  assert.ok(error instanceof RaftClientError, String(error));
  assert.equal(error.uncertain, true);
  assert.match(error.message, /after 3 attempts/);
});

Deno.test("RaftClient.read follows NOT_LEADER to the leader for a linearizable read", async () => {
  await withNodes(2, async ([follower, leader]) => {
    follower!.readAnswers = [
      readResponse({ notLeader: true, leaderId: "2", leaderAddr: leader!.address }),
    ];
    leader!.readAnswers = [readResponse({ found: true, outcome: ACCEPTED, raftIndex: 5 })];
    using client = new RaftClient({ addresses: [follower!.address] });
    const response = await client.read("o-1");
    assert.equal(response.found, true);
    assert.equal(response.raftIndex, 5);
    assert.equal(client.leaderAddress, leader!.address);
  });
});

Deno.test("RaftClient stops retrying when its signal is aborted", async () => {
  const controller = new AbortController();
  using client = new RaftClient({
    addresses: [`127.0.0.1:${freePort()}`],
    maxAttempts: 1000,
    signal: controller.signal,
  });
  const pending = client.apply(request("o-1"));
  setTimeout(() => controller.abort(new Error("test stop")), 50);
  await assert.rejects(pending, /test stop/);
});

Deno.test("RaftClient.applyBatch() follows a NOT_LEADER redirect with the whole batch", async () => {
  await withNodes(2, async ([follower, leader]) => {
    const notLeader = {
      ...applied(0, ApplyResult.APPLY_RESULT_NOT_LEADER),
      leaderId: "2",
      leaderAddr: leader!.address,
    };
    follower!.batchAnswers = [{ responses: [notLeader, notLeader] }];
    leader!.batchAnswers = [{
      responses: [applied(7), applied(3, ApplyResult.APPLY_RESULT_DUPLICATE)],
    }];
    using client = new RaftClient({ addresses: [follower!.address] });
    const responses = await client.applyBatch([request("o-1"), request("o-2")]);
    assert.deepEqual(responses.map((r) => [r.result, r.raftIndex]), [
      [ApplyResult.APPLY_RESULT_APPLIED, 7],
      [ApplyResult.APPLY_RESULT_DUPLICATE, 3],
    ]);
    assert.equal(follower!.batches.length, 1);
    assert.deepEqual(leader!.batches.map((b) => b.map((r) => r.orderId)), [["o-1", "o-2"]]);
    assert.equal(client.leaderAddress, leader!.address);
    assert.equal(leader!.applies.length, 0, "no order was sent on its own");
  });
});

Deno.test("RaftClient.applyBatch() reads every order after an uncertain batch before re-applying", async () => {
  await withNodes(1, async ([node]) => {
    node!.batchAnswers = [{ code: grpc.status.UNAVAILABLE, details: "leadership lost" }];
    // o-1 was recorded before the batch failed; o-2 was not.
    node!.readAnswers = [
      readResponse({ found: true, outcome: ACCEPTED, raftIndex: 5, payloadHash: hash("p") }),
      readResponse({ found: false }),
    ];
    node!.applyAnswers = [applied(6)];
    using client = new RaftClient({ addresses: [node!.address], initialBackoffMs: 1 });
    const responses = await client.applyBatch([request("o-1"), request("o-2")]);
    assert.deepEqual(responses.map((r) => [r.result, r.raftIndex]), [
      [ApplyResult.APPLY_RESULT_APPLIED, 5],
      [ApplyResult.APPLY_RESULT_APPLIED, 6],
    ]);
    assert.deepEqual(node!.reads.toSorted(), ["o-1", "o-2"]);
    assert.deepEqual(node!.applies.map((r) => r.orderId), ["o-2"], "only o-2 applied again");
  });
});

Deno.test("RaftClient.applyBatch() applies order by order on a node without ApplyBatch", async () => {
  await withNodes(1, async ([node]) => {
    node!.batchAnswers = [{ code: grpc.status.UNIMPLEMENTED, details: "unknown method" }];
    node!.applyAnswers = [applied(1)];
    using client = new RaftClient({ addresses: [node!.address], initialBackoffMs: 1 });
    const responses = await client.applyBatch([request("o-1"), request("o-2")]);
    assert.equal(responses.length, 2);
    assert.equal(node!.reads.length, 0, "an unimplemented method reached nothing: no reads");
    assert.equal(node!.applies.length, 2);
  });
});
