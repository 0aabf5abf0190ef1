import assert from "node:assert/strict";
import { encodeConfState } from "./core/conf_state.ts";
import type { AppendEntriesRequest, ConfState, Message, RequestVoteRequest } from "./core/types.ts";
import { type GuardedNode, MAX_TERM_GAP, peerMessageRefusal } from "./peer_message_guard.ts";
import { encodeCommand, OrderStateMachine } from "./state_machine.ts";
import { OrderStatus } from "@trading/proto/orders";

const CONF: ConfState = { voters: ["a", "b", "c"], learners: ["d"], context: {} };

function node(overrides: Partial<GuardedNode> = {}): GuardedNode {
  return {
    id: "a",
    term: 7,
    commitIndex: 100,
    lastIndex: 102,
    lastTerm: 7,
    conf: CONF,
    stateMachine: new OrderStateMachine(),
    ...overrides,
  };
}

function vote(overrides: Partial<RequestVoteRequest> = {}): RequestVoteRequest {
  return {
    type: "requestVote",
    from: "b",
    to: "a",
    term: 8,
    lastLogIndex: 100,
    lastLogTerm: 7,
    preVote: false,
    transfer: false,
    ...overrides,
  };
}

function append(overrides: Partial<AppendEntriesRequest> = {}): AppendEntriesRequest {
  return {
    type: "appendEntries",
    from: "b",
    to: "a",
    term: 7,
    prevLogIndex: 100,
    prevLogTerm: 7,
    entries: [
      { index: 101, term: 7, type: 0, data: new Uint8Array([1, 2]) },
      { index: 102, term: 7, type: 1, data: encodeConfState(CONF) },
    ],
    leaderCommit: 100,
    context: new Uint8Array(),
    ...overrides,
  };
}

function snapshotData(applied: number): Uint8Array {
  const machine = new OrderStateMachine();
  machine.apply(applied, {
    orderId: "o-1",
    payloadHash: new Uint8Array(16),
    outcome: { status: OrderStatus.ORDER_STATUS_ACCEPTED, reason: "" },
    symbol: "AAA",
    positionDelta: 1,
    maxPosition: 0,
  });
  return machine.snapshot();
}

function snapshot(data: Uint8Array, configuration = encodeConfState(CONF)): Message {
  return {
    type: "installSnapshot",
    from: "b",
    to: "a",
    term: 7,
    lastIncludedIndex: 200,
    lastIncludedTerm: 7,
    configuration,
    data,
  };
}

const reasonOf = (m: Message, n = node()) => peerMessageRefusal(m, n)?.reason;

Deno.test("peerMessageRefusal() lets a member's ordinary messages through", () => {
  assert.equal(reasonOf(vote()), undefined);
  assert.equal(reasonOf(vote({ preVote: true })), undefined);
  assert.equal(reasonOf(vote({ transfer: true, term: 8 })), undefined, "transfer at term + 1");
  assert.equal(reasonOf(append()), undefined);
  assert.equal(reasonOf(append({ from: "d" })), undefined, "a learner is a member");
  assert.equal(reasonOf(vote({ term: 7 + MAX_TERM_GAP })), undefined);
  assert.equal(reasonOf(snapshot(snapshotData(200))), undefined);
});

Deno.test("peerMessageRefusal() refuses a sender outside the configuration, or claiming to be us", () => {
  assert.equal(reasonOf(vote({ from: "mallory" })), "not-member");
  assert.equal(reasonOf(append({ from: "mallory", term: 6 })), "not-member");
  assert.equal(reasonOf(append({ from: "a" })), "not-member");
  assert.equal(reasonOf(vote({ from: "a" })), "not-member");
  assert.equal(
    reasonOf({ type: "timeoutNow", from: "mallory", to: "a", term: 7 }),
    "not-member",
  );
  // A node that has not joined takes the first leader's messages, whoever it is.
  const joining = node({ conf: { voters: [], learners: [], context: {} }, term: 0 });
  assert.equal(reasonOf(append({ from: "leader", term: 5_000_000 }), joining), undefined);
});

Deno.test("peerMessageRefusal() lets a newer configuration's leader and up-to-date candidates reach a node whose configuration is out of date", () => {
  // "e" leads (or campaigns in) a membership this node has not seen yet.
  assert.equal(reasonOf(append({ from: "e", term: 7 })), undefined);
  assert.equal(reasonOf(append({ from: "e", term: 9 })), undefined);
  assert.equal(
    reasonOf(vote({ from: "e", term: 9, lastLogIndex: 103, lastLogTerm: 7 })),
    undefined,
  );
  assert.equal(reasonOf(vote({ from: "e", term: 9, lastLogIndex: 50, lastLogTerm: 8 })), undefined);
  // A log no further than ours is a removed member's, or a stranger's: refused.
  assert.equal(
    reasonOf(vote({ from: "e", term: 9, lastLogIndex: 102, lastLogTerm: 7 })),
    "not-member",
  );
  assert.equal(
    reasonOf(vote({ from: "e", term: 9, lastLogIndex: 200, lastLogTerm: 6 })),
    "not-member",
  );
});

Deno.test("peerMessageRefusal() refuses a term that cannot be real", () => {
  assert.equal(reasonOf(vote({ term: 2 ** 53 - 1 })), "term-jump");
  assert.equal(reasonOf(vote({ term: 2 ** 53 - 1, transfer: true })), "term-jump");
  assert.equal(reasonOf(append({ term: 8 + MAX_TERM_GAP })), "term-jump");
  assert.equal(reasonOf(vote({ term: -1 })), "term-jump");
  assert.equal(reasonOf(vote({ term: 1.5 })), "term-jump");
  const joining = node({ conf: { voters: [], learners: [], context: {} }, term: 0 });
  assert.equal(reasonOf(append({ term: 2 ** 53 - 1 }), joining), "term-jump");
});

Deno.test("peerMessageRefusal() takes a transfer's vote only at our term + 1", () => {
  assert.equal(reasonOf(vote({ transfer: true, term: 9 })), "transfer-term");
  assert.equal(reasonOf(vote({ transfer: true, term: 7 })), "transfer-term");
  assert.equal(reasonOf(vote({ transfer: false, term: 9 })), undefined, "an ordinary election");
});

Deno.test("peerMessageRefusal() refuses entries that do not follow prevLogIndex or have bad terms", () => {
  const entry = (index: number, term: number) => ({
    index,
    term,
    type: 0 as const,
    data: new Uint8Array(),
  });
  assert.equal(reasonOf(append({ entries: [entry(102, 7)] })), "malformed", "a gap");
  assert.equal(reasonOf(append({ entries: [entry(101, 7), entry(101, 7)] })), "malformed");
  assert.equal(reasonOf(append({ entries: [entry(101, 8)] })), "malformed", "above the term");
  assert.equal(reasonOf(append({ prevLogTerm: 6, entries: [entry(101, 5)] })), "malformed");
  assert.equal(reasonOf(append({ prevLogIndex: -1, entries: [] })), "malformed");
  assert.equal(reasonOf(append({ leaderCommit: Number.MAX_SAFE_INTEGER + 2 })), "malformed");
});

Deno.test("peerMessageRefusal() refuses a config entry that is no membership or has no voter", () => {
  const config = (data: Uint8Array) =>
    append({ entries: [{ index: 101, term: 7, type: 1, data }] });
  assert.equal(reasonOf(config(new TextEncoder().encode("{not json"))), "malformed");
  assert.equal(reasonOf(config(new TextEncoder().encode('{"voters":[1]}'))), "malformed");
  assert.equal(
    reasonOf(config(encodeConfState({ voters: [], learners: ["a"], context: {} }))),
    "malformed",
  );
  assert.equal(reasonOf(config(new Uint8Array())), "malformed", "the empty membership");
});

Deno.test("peerMessageRefusal() refuses a snapshot whose data or membership does not decode", () => {
  assert.equal(reasonOf(snapshot(new Uint8Array([1, 2, 3]))), "snapshot-invalid");
  assert.equal(
    reasonOf(snapshot(encodeCommand({
      orderId: "x",
      payloadHash: new Uint8Array(16),
      outcome: { status: OrderStatus.ORDER_STATUS_ACCEPTED, reason: "" },
      symbol: "AAA",
      positionDelta: 0,
      maxPosition: 0,
    }))),
    "snapshot-invalid",
  );
  assert.equal(reasonOf(snapshot(snapshotData(199))), "snapshot-invalid", "not at its index");
  const truncated = snapshotData(200).slice(0, -2);
  assert.equal(reasonOf(snapshot(truncated)), "snapshot-invalid");
  assert.equal(
    reasonOf(snapshot(snapshotData(200), new TextEncoder().encode("garbage"))),
    "snapshot-invalid",
  );
  // One the core would not install (at or below the commit index) is not parsed at all.
  assert.equal(reasonOf(snapshot(new Uint8Array([9])), node({ commitIndex: 200 })), undefined);
});

Deno.test("OrderStateMachine.restore() installs the snapshot the guard parsed", () => {
  const machine = new OrderStateMachine();
  const data = snapshotData(200);
  assert.equal(reasonOf(snapshot(data), node({ stateMachine: machine })), undefined);
  machine.restore(data);
  assert.equal(machine.appliedIndex, 200);
  assert.equal(machine.read("o-1")?.index, 200);
  assert.equal(machine.position("AAA"), 1);
});
