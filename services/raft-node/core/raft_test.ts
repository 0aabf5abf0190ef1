import assert from "node:assert/strict";
import { Raft } from "./raft.ts";
import { MemoryStorage, TestCluster } from "./test_cluster.ts";
import { decodeConfState, encodeConfState } from "./conf_state.ts";
import {
  type AppendEntriesRequest,
  type AppendEntriesResponse,
  type Entry,
  EntryType,
  type Message,
  type RequestVoteRequest,
  type RequestVoteResponse,
} from "./types.ts";

const text = (s: string) => new TextEncoder().encode(s);
const ofType =
  <T extends Message["type"]>(type: T) => (m: Message): m is Extract<Message, { type: T }> =>
    m.type === type;

function entry(index: number, term: number, data = ""): Entry {
  return { index, term, type: EntryType.Normal, data: text(data) };
}

function confEntry(voters: string[]): Entry {
  return {
    index: 1,
    term: 1,
    type: EntryType.Config,
    data: encodeConfState({ voters, learners: [], context: {} }),
  };
}

/** A node restored from a hand-written log, as if it had run before. */
function restored(
  id: string,
  voters: string[],
  log: Entry[],
  term: number,
  options: Partial<ConstructorParameters<typeof Raft>[0]> = {},
): Raft {
  return new Raft({
    id,
    random: () => 0,
    storage: {
      hardState: { term, vote: "", commit: 0 },
      snapshot: undefined,
      entries: [confEntry(voters), ...log],
    },
    ...options,
  });
}

function drain(node: Raft): Message[] {
  const out: Message[] = [];
  while (node.hasReady()) {
    const rd = node.ready();
    out.push(...rd.earlyMessages, ...rd.messages);
    node.advance(rd);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Elections.
// ---------------------------------------------------------------------------------------------

Deno.test("Raft: a single bootstrapped node elects itself and commits its no-op", () => {
  const c = new TestCluster(["a"]);
  const a = c.elect("a");
  assert.equal(a.role, "leader");
  assert.equal(a.term, 2);
  assert.equal(a.commitIndex, 2); // the bootstrap config entry and the no-op
  c.propose("a", "x");
  assert.deepEqual(c.appliedTexts("a"), ["x"]);
});

Deno.test("Raft: a follower whose election timeout elapses pre-votes, then wins a real election", () => {
  const c = new TestCluster(["a", "b", "c"], { electionTick: 10 });
  // Tick only "a" past its randomized timeout (at most 2 * electionTick - 1 ticks).
  c.tick("a", 19);
  const preVotes = c.take(ofType("requestVote"));
  assert.equal(preVotes.length, 2);
  for (const m of preVotes) {
    assert.equal(m.type === "requestVote" && m.preVote, true);
    assert.equal(m.term, 2); // the term it would campaign in...
  }
  assert.equal(c.node("a").term, 1); // ...without having bumped its own
  assert.equal(c.node("a").role, "pre-candidate");
  for (const m of preVotes) c.deliver(m);
  const grants = c.take();
  assert.ok(grants.every((m) => m.type === "requestVoteResponse" && m.granted && m.preVote));
  c.deliver(grants[0]!);
  // A pre-vote quorum (itself and one) turns it into a candidate of term 2.
  assert.equal(c.node("a").role, "candidate");
  assert.equal(c.node("a").term, 2);
  assert.equal(c.node("a").hardState.vote, "a");
  c.deliverAll();
  assert.equal(c.node("a").role, "leader");
  assert.equal(c.node("b").leader, "a");
  assert.equal(c.node("c").leader, "a");
  // The no-op of term 2 is committed and applied everywhere.
  const noop = c.node("a").entry(2)!;
  assert.equal(noop.term, 2);
  assert.equal(noop.data.length, 0);
  c.tickAll(1);
  for (const id of ["a", "b", "c"]) assert.equal(c.node(id).commitIndex, 2);
});

Deno.test("Raft: a node grants one vote per term and only to a candidate with an up-to-date log", () => {
  const b = restored("b", ["a", "b", "c"], [entry(2, 2)], 2, { preVote: false });
  const vote = (from: string, term: number, lastLogIndex: number, lastLogTerm: number) => {
    b.step({
      type: "requestVote",
      from,
      to: "b",
      term,
      lastLogIndex,
      lastLogTerm,
      preVote: false,
      transfer: false,
    });
    return drain(b).filter(ofType("requestVoteResponse"))[0]!;
  };
  // Shorter log of the same last term: refused (§5.4.1), though the term is adopted.
  assert.equal(vote("a", 3, 1, 2).granted, false);
  assert.equal(b.term, 3);
  // Older last term: refused.
  assert.equal(vote("a", 3, 5, 1).granted, false);
  // Up to date: granted, and the vote is persisted with the response.
  assert.equal(vote("a", 3, 2, 2).granted, true);
  assert.equal(b.hardState.vote, "a");
  // Another candidate in the same term: refused; the same one again: granted (idempotent).
  assert.equal(vote("c", 3, 9, 2).granted, false);
  assert.equal(vote("a", 3, 2, 2).granted, true);
});

Deno.test("Raft: the vote and the grant leave in the same Ready, so the grant follows the persisted vote", () => {
  const b = restored("b", ["a", "b", "c"], [], 1, { preVote: false });
  b.step({
    type: "requestVote",
    from: "a",
    to: "b",
    term: 2,
    lastLogIndex: 1,
    lastLogTerm: 1,
    preVote: false,
    transfer: false,
  });
  const rd = b.ready();
  assert.deepEqual(rd.hardState, { term: 2, vote: "a", commit: 0 });
  assert.equal(rd.messages.length, 1);
  assert.equal((rd.messages[0] as RequestVoteResponse).granted, true);
  b.advance(rd);
});

Deno.test("Raft: a candidate that loses a majority of votes goes back to follower", () => {
  const a = restored("a", ["a", "b", "c"], [], 1, { preVote: false });
  a.campaign();
  assert.equal(a.role, "candidate");
  for (const from of ["b", "c"]) {
    a.step({ type: "requestVoteResponse", from, to: "a", term: 2, granted: false, preVote: false });
  }
  assert.equal(a.role, "follower");
  assert.equal(a.term, 2);
});

Deno.test("Raft: election timeouts are drawn from [electionTick, 2 * electionTick)", () => {
  for (const r of [0, 0.5, 0.9999]) {
    const a = restored("a", ["a", "b", "c"], [], 1, { random: () => r, electionTick: 10 });
    let ticks = 0;
    while (a.role === "follower") {
      a.tick();
      ticks++;
    }
    assert.equal(ticks, 10 + Math.floor(r * 10));
  }
});

// ---------------------------------------------------------------------------------------------
// Pre-vote, check-quorum and the leader lease.
// ---------------------------------------------------------------------------------------------

Deno.test("Raft: a partitioned node pre-votes without bumping its term and rejoins without disrupting", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  const term = c.node("a").term;
  c.drop = (m) => m.to === "c" || m.from === "c";
  for (let i = 0; i < 100; i++) c.tickAll();
  // c keeps failing pre-votes: its term never moves.
  assert.equal(c.node("c").term, term);
  assert.equal(c.node("c").role, "pre-candidate");
  c.drop = () => false;
  c.tickAll(3);
  assert.equal(c.node("a").role, "leader");
  assert.equal(c.node("a").term, term);
  assert.equal(c.node("c").leader, "a");
});

Deno.test("Raft: without pre-vote a rejoining partitioned node forces a new election (the problem pre-vote solves)", () => {
  const c = new TestCluster(["a", "b", "c"], { preVote: false, checkQuorum: false });
  c.elect("a");
  const term = c.node("a").term;
  c.drop = (m) => m.to === "c" || m.from === "c";
  for (let i = 0; i < 100; i++) c.tickAll();
  assert.ok(c.node("c").term > term + 3);
  c.drop = () => false;
  c.tickAll(25);
  assert.ok(c.node("a").term > term);
});

Deno.test("Raft: with check-quorum, a leader that hears from no majority steps down after an election timeout", () => {
  const c = new TestCluster(["a", "b", "c"], { electionTick: 10 });
  c.elect("a");
  c.drop = (m) => m.from === "a" || m.to === "a";
  c.tick("a", 9);
  assert.equal(c.node("a").role, "leader");
  // The first check-quorum round may count the peers as active from before; by the second,
  // the leader must have noticed.
  c.tick("a", 11);
  assert.equal(c.node("a").role, "follower");
  assert.equal(c.node("a").leader, "");
});

Deno.test("Raft: a follower in its leader lease ignores a vote request of a higher term", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  const b = c.node("b");
  const term = b.term;
  const request: RequestVoteRequest = {
    type: "requestVote",
    from: "c",
    to: "b",
    term: term + 1,
    lastLogIndex: 100,
    lastLogTerm: term,
    preVote: false,
    transfer: false,
  };
  b.step(request);
  assert.equal(b.term, term);
  assert.equal(b.leader, "a");
  assert.equal(drain(b).length, 0); // no answer at all
  b.step({ ...request, preVote: true });
  assert.equal(drain(b).length, 0);
  // Once the lease has run out (no leader contact for an election timeout), it votes.
  for (let i = 0; i < 10; i++) b.tick();
  b.step(request);
  assert.equal(b.term, term + 1);
  const response = drain(b).filter(ofType("requestVoteResponse"))[0];
  assert.equal(response?.granted, true);
});

Deno.test("Raft: followers that forget a gone leader elect a new one without waiting an election timeout", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  const term = c.node("b").term;
  c.drop = (m) => m.from === "a" || m.to === "a"; // a is gone
  assert.equal(c.node("a").forgetLeader("a"), false, "a leader has no leader to forget");
  assert.equal(c.node("b").forgetLeader("c"), false, "c is not b's leader");
  assert.equal(c.node("b").forgetLeader("a"), true);
  assert.equal(c.node("b").leader, "");
  // c still in its lease: b's pre-vote is ignored, b stays a pre-candidate.
  c.node("b").campaign();
  c.process("b");
  assert.equal(c.deliverAll() > 0, true);
  assert.equal(c.node("b").role, "pre-candidate");
  assert.equal(c.node("c").leader, "a");
  // Once c has forgotten a too, the next campaign wins at once: no tick in between.
  assert.equal(c.node("c").forgetLeader("a"), true);
  c.node("c").campaign();
  c.process("c");
  c.deliverAll();
  assert.equal(c.node("c").role, "leader");
  assert.equal(c.node("c").term, term + 1);
  assert.equal(c.node("b").leader, "c");
});

Deno.test("Raft: unsafe skipPreVoteLeaseCheck lets a vote request depose a healthy leader's term", () => {
  const c = new TestCluster(["a", "b", "c"], { unsafe: { skipPreVoteLeaseCheck: true } });
  c.elect("a");
  const b = c.node("b");
  const term = b.term;
  b.step({
    type: "requestVote",
    from: "c",
    to: "b",
    term: term + 1,
    lastLogIndex: 100,
    lastLogTerm: term,
    preVote: false,
    transfer: false,
  });
  assert.equal(b.term, term + 1);
});

Deno.test("Raft: a stale leader learns the higher term from a rejection and steps down", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  // b and c move on to a new term without a.
  c.drop = (m) => m.from === "a" || m.to === "a";
  for (let i = 0; i < 30; i++) {
    c.tick("b");
    c.tick("c");
    c.deliverAll();
  }
  const b = c.node("b").role === "leader" ? "b" : "c";
  assert.equal(c.node(b).role, "leader");
  c.drop = () => false;
  // a's heartbeat gets the new term back and a becomes a follower.
  c.tick("a");
  c.deliverAll();
  assert.equal(c.node("a").role, "follower");
  assert.equal(c.node("a").term, c.node(b).term);
});

// ---------------------------------------------------------------------------------------------
// Replication and log conflicts.
// ---------------------------------------------------------------------------------------------

Deno.test("Raft: a follower rejects a mismatched AppendEntries with a hint that skips the conflicting term", () => {
  // b has entries of term 2 up to index 6 that the leader (term 4) never had.
  const b = restored("b", ["a", "b", "c"], [2, 3, 4, 5, 6].map((i) => entry(i, 2)), 3);
  b.step({
    type: "appendEntries",
    from: "a",
    to: "b",
    term: 4,
    prevLogIndex: 8,
    prevLogTerm: 3,
    entries: [],
    leaderCommit: 0,
    context: new Uint8Array(),
  });
  const r = drain(b).filter(ofType("appendEntriesResponse"))[0]!;
  assert.equal(r.success, false);
  assert.equal(r.matchIndex, 8);
  // Largest index <= min(8, last 6) whose term <= 3: index 6 (term 2).
  assert.equal(r.rejectHintIndex, 6);
  assert.equal(r.rejectHintTerm, 2);
});

Deno.test("Raft: a leader repairs a divergent follower log in a few round trips (fast backtracking)", () => {
  // Leader a: terms 1 1 | 3 x 5 (index 2..6) ; follower b: 1 | 2 x 50 (index 2..51).
  const leaderLog = [2, 3, 4, 5, 6].map((i) => entry(i, 3, `a${i}`));
  const followerLog = Array.from({ length: 50 }, (_, k) => entry(k + 2, 2, `b${k + 2}`));
  const a = restored("a", ["a", "b", "c"], leaderLog, 3, { preVote: false });
  const bStorage = new MemoryStorage();
  bStorage.hardState = { term: 2, vote: "", commit: 1 };
  bStorage.entries = [confEntry(["a", "b", "c"]), ...followerLog];
  const c = new TestCluster([]);
  c.nodes.set("a", a);
  c.storage.set(
    "a",
    (() => {
      const s = new MemoryStorage();
      s.entries = [confEntry(["a", "b", "c"]), ...leaderLog];
      s.hardState = { term: 3, vote: "", commit: 0 };
      return s;
    })(),
  );
  c.applied.set("a", []);
  c.readStates.set("a", []);
  c.droppedReads.set("a", []);
  c.add("b", undefined, bStorage);
  c.add("c");
  c.elect("a");
  assert.equal(c.node("a").role, "leader");
  c.queue = [];
  let rejections = 0;
  const before = c.drop;
  c.drop = (m) => {
    if (m.type === "appendEntriesResponse" && m.from === "b" && !m.success) rejections++;
    return before(m);
  };
  c.tickAll(3);
  assert.ok(rejections <= 2, `${rejections} rejections`);
  for (let i = 1; i <= 7; i++) {
    assert.deepEqual(c.node("b").entry(i)?.term, c.node("a").entry(i)?.term, `entry ${i}`);
  }
  assert.equal(c.node("b").lastIndex, c.node("a").lastIndex);
  assert.equal(c.node("b").commitIndex, 7);
});

Deno.test("Raft: a stale, re-delivered AppendEntries never truncates newer entries", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.node("a").propose(text("x"));
  c.process("a");
  const first = c.take(ofType("appendEntries")).find((m) => m.to === "b")!;
  c.deliver(first);
  c.propose("a", "y");
  const before = c.node("b").lastIndex;
  c.deliver(first); // duplicate, late
  assert.equal(c.node("b").lastIndex, before);
  c.deliverAll();
  c.tickAll(1); // followers learn the commit index with the next heartbeat
  assert.deepEqual(c.appliedTexts("b"), ["x", "y"]);
});

Deno.test("Raft: a leader pipelines several AppendEntries per follower, bounded by the in-flight window", () => {
  const c = new TestCluster(["a", "b", "c"], { maxInflightMsgs: 3, maxMsgBytes: 1 });
  c.elect("a");
  const a = c.node("a");
  for (let i = 0; i < 10; i++) a.propose(text(`p${i}`));
  c.process("a");
  const toB = c.queue.filter((m): m is AppendEntriesRequest =>
    m.type === "appendEntries" && m.to === "b"
  );
  // maxMsgBytes 1 means one entry per message; the window allows three in flight.
  assert.equal(toB.length, 3);
  assert.deepEqual(toB.map((m) => m.entries.length), [1, 1, 1]);
  assert.deepEqual(toB.map((m) => m.prevLogIndex), [2, 3, 4]);
  c.deliverAll();
  c.tickAll(1);
  assert.deepEqual(c.appliedTexts("b"), Array.from({ length: 10 }, (_, i) => `p${i}`));
});

Deno.test("Raft: proposals made while a Ready is being persisted go out together in the next one", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  const a = c.node("a");
  a.propose(text("first"));
  const rd = a.ready();
  assert.equal(rd.entries.length, 1);
  for (let i = 0; i < 5; i++) a.propose(text(`batched${i}`)); // during the "fsync"
  assert.equal(a.hasReady(), false); // one Ready at a time
  c.storage.get("a")!.persist(rd);
  c.queue.push(...rd.earlyMessages, ...rd.messages);
  a.advance(rd);
  const next = a.ready();
  assert.equal(next.entries.length, 5);
  const appends = next.earlyMessages.filter(ofType("appendEntries"));
  // One message per follower carries the whole batch (the first is still in flight).
  assert.equal(appends.length, 2);
  assert.ok(appends.every((m) => m.entries.length === 5));
  c.storage.get("a")!.persist(next);
  c.queue.push(...next.earlyMessages, ...next.messages);
  a.advance(next);
  c.deliverAll();
  assert.equal(c.appliedTexts("a").length, 6);
});

Deno.test("Raft: a lost AppendEntries is re-sent after the pipeline stalls", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  let dropped = 0;
  c.drop = (m) =>
    m.type === "appendEntries" && m.to === "b" && m.entries.length > 0 && dropped++ === 0;
  c.propose("a", "x");
  assert.equal(dropped, 1);
  assert.deepEqual(c.appliedTexts("b"), []);
  c.tickAll(4);
  assert.deepEqual(c.appliedTexts("b"), ["x"]);
});

// ---------------------------------------------------------------------------------------------
// The commit rule (Figure 8).
// ---------------------------------------------------------------------------------------------

function figure8Leader(unsafe: boolean): Raft {
  // a was leader of term 2 and replicated entry 2 (term 2) to b only; now a leads term 3.
  const a = restored("a", ["a", "b", "c"], [entry(2, 2, "old")], 2, {
    preVote: false,
    unsafe: { commitPreviousTermByCounting: unsafe },
  });
  a.campaign();
  drain(a);
  a.step({
    type: "requestVoteResponse",
    from: "b",
    to: "a",
    term: 3,
    granted: true,
    preVote: false,
  });
  drain(a); // persists the no-op (index 3, term 3)
  assert.equal(a.role, "leader");
  return a;
}

function ack(a: Raft, from: string, matchIndex: number): void {
  a.step({
    type: "appendEntriesResponse",
    from,
    to: "a",
    term: a.term,
    success: true,
    matchIndex,
    rejectHintIndex: 0,
    rejectHintTerm: 0,
    context: new Uint8Array(),
  });
  drain(a);
}

Deno.test("Raft: a leader does not commit an entry of an earlier term by counting replicas (Figure 8)", () => {
  const a = figure8Leader(false);
  ack(a, "b", 2); // entry 2 (term 2) is now on a majority: a and b
  assert.equal(a.commitIndex, 0);
  ack(a, "b", 3); // the no-op of term 3 on a majority commits both
  assert.equal(a.commitIndex, 3);
});

Deno.test("Raft: unsafe commitPreviousTermByCounting commits the earlier-term entry (the Figure 8 bug)", () => {
  const a = figure8Leader(true);
  ack(a, "b", 2);
  assert.equal(a.commitIndex, 2);
});

function appendAck(to: Raft, from: string, matchIndex: number): AppendEntriesResponse {
  return {
    type: "appendEntriesResponse",
    from,
    to: to.id,
    term: to.term,
    success: true,
    matchIndex,
    rejectHintIndex: 0,
    rejectHintTerm: 0,
    context: new Uint8Array(),
  };
}

Deno.test("Raft: a leader counts its own log only once the Ready holding it is persisted", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  const a = c.node("a");
  const { index } = a.propose(text("x")) as { index: number };
  const rd = a.ready();
  // b stored the early AppendEntries and acknowledged it while the leader is still writing:
  // a majority would be a and b, but a's copy is not durable yet.
  a.step(appendAck(a, "b", index));
  assert.equal(a.commitIndex, index - 1);
  a.advance(rd);
  assert.equal(a.commitIndex, index);
});

Deno.test("Raft: a leader hands out its AppendEntries as early messages, before its entries are durable (thesis §10.2.1)", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  const a = c.node("a");
  const { index } = a.propose(text("x")) as { index: number };
  const rd = a.ready();
  assert.deepEqual(rd.entries.map((e) => e.index), [index]);
  const appends = rd.earlyMessages.filter(ofType("appendEntries"));
  assert.deepEqual(appends.map((m) => m.to).sort(), ["b", "c"]);
  assert.ok(appends.every((m) => m.entries.some((e) => e.index === index)));
  assert.deepEqual(rd.messages, []);
});

Deno.test("Raft: a leader commits on its followers' acknowledgements while its own write is pending", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  const a = c.node("a");
  const { index } = a.propose(text("x")) as { index: number };
  const rd = a.ready();
  a.step(appendAck(a, "b", index));
  a.step(appendAck(a, "c", index));
  // b and c are a majority of durable copies without the leader's.
  assert.equal(a.commitIndex, index);
  a.advance(rd);
  const next = a.ready();
  assert.deepEqual(next.committedEntries.map((e) => e.index), [index]);
  a.advance(next);
});

Deno.test("Raft: unsafe countUnpersistedLeaderLog commits on one follower's acknowledgement before the leader's write is durable", () => {
  const c = new TestCluster(["a", "b", "c"], { unsafe: { countUnpersistedLeaderLog: true } });
  c.elect("a");
  const a = c.node("a");
  const { index } = a.propose(text("x")) as { index: number };
  a.ready();
  a.step(appendAck(a, "b", index));
  assert.equal(a.commitIndex, index);
});

Deno.test("Raft: votes and acknowledgements are never early messages", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.node("a").propose(text("x"));
  c.process("a");
  const appends = c.take((m) => m.type === "appendEntries" && m.to === "b");
  const b = c.node("b");
  for (const m of appends) b.step(m);
  const rd = b.ready();
  assert.equal(rd.entries.length, 1);
  assert.deepEqual(rd.earlyMessages, []);
  assert.ok(rd.messages.some((m) => m.type === "appendEntriesResponse" && m.success));
  b.advance(rd);

  const voter = restored("v", ["v", "w"], [], 1);
  voter.step({
    type: "requestVote",
    from: "w",
    to: "v",
    term: 2,
    lastLogIndex: 1,
    lastLogTerm: 1,
    preVote: false,
    transfer: false,
  });
  const vote = voter.ready();
  assert.equal(vote.hardState?.vote, "w");
  assert.deepEqual(vote.earlyMessages, []);
  assert.equal(vote.messages.filter(ofType("requestVoteResponse"))[0]?.granted, true);
});

Deno.test("Raft: a leader whose term is not durable yet (a single voter that just won) sends nothing early", () => {
  const a = new Raft({
    id: "a",
    random: () => 0,
    bootstrap: { voters: ["a"], learners: ["l"], context: {} },
  });
  a.campaign();
  assert.equal(a.role, "leader");
  const first = a.ready();
  assert.equal(first.hardState?.term, a.term);
  // Were a to crash now, it could win this term again and write other entries at the same
  // indexes; the learner must not have seen these.
  assert.deepEqual(first.earlyMessages, []);
  assert.ok(first.messages.some((m) => m.type === "appendEntries" && m.to === "l"));
  a.advance(first);
  a.step(appendAck(a, "l", a.lastIndex)); // the learner is caught up: pipelining starts
  a.propose(text("x"));
  const second = a.ready();
  assert.ok(second.earlyMessages.some((m) => m.type === "appendEntries" && m.to === "l"));
  assert.deepEqual(second.messages, []);
  a.advance(second);
});

// ---------------------------------------------------------------------------------------------
// ReadIndex.
// ---------------------------------------------------------------------------------------------

Deno.test("Raft: ReadIndex answers only after a quorum confirms leadership by heartbeat", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.tickAll(1);
  const a = c.node("a");
  assert.deepEqual(a.readIndex(7), { ok: true });
  c.process("a");
  assert.deepEqual(c.readStates.get("a"), []);
  const heartbeats = c.take(ofType("appendEntries"));
  assert.equal(heartbeats.length, 2);
  assert.ok(heartbeats.every((m) => m.type === "appendEntries" && m.context.length === 8));
  c.deliver(heartbeats[0]!);
  const acks = c.take(ofType("appendEntriesResponse"));
  assert.equal(acks.length, 1);
  c.deliver(acks[0]!);
  assert.deepEqual(c.readStates.get("a"), [{ context: 7, index: a.commitIndex }]);
});

Deno.test("Raft: ReadIndex waits until the new leader has committed an entry of its term", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.propose("a", "x");
  c.tickAll(1);
  // b takes over by a leadership transfer, but its no-op is held back.
  c.drop = (m) => m.type === "appendEntries" && m.from === "b" && m.entries.length > 0;
  c.node("a").transferLeadership("b");
  c.process("a");
  c.deliverAll();
  const b = c.node("b");
  assert.equal(b.role, "leader");
  assert.ok(b.commitIndex < b.lastIndex);
  b.readIndex(1);
  c.process("b");
  c.tickAll(2); // heartbeats are confirmed, but the no-op is not committed
  assert.deepEqual(c.readStates.get("b"), []);
  c.drop = () => false;
  c.tickAll(3);
  const states = c.readStates.get("b")!;
  assert.equal(states.length, 1);
  assert.equal(states[0]!.index, b.lastIndex);
  assert.equal(b.entry(states[0]!.index)!.term, b.term);
});

Deno.test("Raft: pending reads are dropped when the leader steps down", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.drop = (m) => m.from === "a" || m.to === "a";
  c.node("a").readIndex(42);
  c.tick("a", 25);
  assert.equal(c.node("a").role, "follower");
  assert.deepEqual(c.droppedReads.get("a"), [42]);
  assert.deepEqual(c.readStates.get("a"), []);
  assert.equal(c.node("a").readIndex(43).ok, false);
});

Deno.test("Raft: a single-voter leader answers ReadIndex without a round trip", () => {
  const c = new TestCluster(["a"]);
  c.elect("a");
  c.node("a").readIndex(5);
  c.process("a");
  assert.deepEqual(c.readStates.get("a"), [{ context: 5, index: 2 }]);
});

// ---------------------------------------------------------------------------------------------
// Leadership transfer.
// ---------------------------------------------------------------------------------------------

Deno.test("Raft: leadership transfer sends TimeoutNow to an up-to-date target, which wins at once", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.tickAll(1);
  const term = c.node("a").term;
  assert.deepEqual(c.node("a").transferLeadership("b"), { ok: true });
  c.process("a");
  const timeoutNow = c.queue.filter(ofType("timeoutNow"));
  assert.equal(timeoutNow.length, 1);
  c.deliverAll();
  assert.equal(c.node("b").role, "leader");
  assert.equal(c.node("b").term, term + 1);
  assert.equal(c.node("a").role, "follower");
  assert.equal(c.node("a").leader, "b");
});

Deno.test("Raft: a transfer first brings a lagging target up to date, and refuses proposals meanwhile", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.drop = (m) => m.to === "c";
  c.propose("a", "x");
  c.drop = () => false;
  assert.ok(c.node("c").lastIndex < c.node("a").lastIndex);
  c.node("a").transferLeadership("c");
  assert.deepEqual(c.node("a").propose(text("y")), {
    ok: false,
    reason: "transfer-in-progress",
    leader: "a",
  });
  c.tickAll(2);
  assert.equal(c.node("c").role, "leader");
  assert.deepEqual(c.appliedTexts("c"), ["x"]);
});

Deno.test("Raft: a transfer to an unreachable target is aborted after an election timeout", () => {
  const c = new TestCluster(["a", "b", "c"], { checkQuorum: true });
  c.elect("a");
  c.drop = (m) => m.to === "c" || m.from === "c";
  c.node("a").transferLeadership("c");
  assert.equal(c.node("a").propose(text("x")).ok, false);
  c.tickAll(10);
  assert.equal(c.node("a").role, "leader");
  assert.equal(c.node("a").propose(text("x")).ok, true);
});

// ---------------------------------------------------------------------------------------------
// Snapshots and compaction.
// ---------------------------------------------------------------------------------------------

Deno.test("Raft: a follower behind a compacted log catches up by InstallSnapshot", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.drop = (m) => m.to === "c" || m.from === "c";
  for (let i = 0; i < 10; i++) c.propose("a", `v${i}`);
  const a = c.node("a");
  const applied = a.appliedIndex;
  const snapshot = a.compact(applied, text("state-at-" + applied));
  c.storage.get("a")!.compacted(snapshot);
  assert.equal(a.entry(applied), undefined);
  c.drop = () => false;
  c.tickAll(3);
  const installs = c.restored.get("c")!;
  assert.equal(installs.length, 1);
  assert.equal(installs[0]!.index, applied);
  assert.equal(new TextDecoder().decode(installs[0]!.data), "state-at-" + applied);
  assert.deepEqual(installs[0]!.conf.voters, ["a", "b", "c"]);
  // Entries after the snapshot arrive as usual.
  c.propose("a", "after");
  c.tickAll(1);
  assert.deepEqual(c.appliedTexts("c"), ["after"]);
  assert.equal(c.node("c").snapshotIndex, applied);
  // c persisted the snapshot and restarts from it.
  const restarted = c.restart("c");
  assert.equal(restarted.snapshotIndex, applied);
  assert.equal(restarted.lastIndex, a.lastIndex);
});

Deno.test("Raft: compact(index, data, retain) keeps recent entries so a slightly lagging follower avoids the snapshot", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.drop = (m) => m.to === "c" || m.from === "c";
  for (let i = 0; i < 3; i++) c.propose("a", `v${i}`);
  const a = c.node("a");
  const snapshot = a.compact(a.appliedIndex, text("s"), 10);
  c.storage.get("a")!.compacted(snapshot, 10);
  c.drop = () => false;
  c.tickAll(3);
  assert.deepEqual(c.restored.get("c"), []);
  assert.deepEqual(c.appliedTexts("c"), ["v0", "v1", "v2"]);
});

Deno.test("Raft: compact() refuses an index beyond what was applied", () => {
  const c = new TestCluster(["a"]);
  c.elect("a");
  assert.throws(() => c.node("a").compact(c.node("a").appliedIndex + 1, text("")), /applied index/);
});

Deno.test("Raft: a node restarted from storage keeps its term, vote, log and commit index", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.propose("a", "x");
  c.tickAll(1);
  const before = c.node("b").status();
  const b = c.restart("b");
  assert.equal(b.term, before.term);
  assert.equal(b.lastIndex, before.lastIndex);
  assert.equal(b.commitIndex, before.commit);
  assert.equal(b.role, "follower");
  assert.deepEqual(c.appliedTexts("b"), ["x"]); // re-applied from the log after restart
});

// ---------------------------------------------------------------------------------------------
// Membership changes.
// ---------------------------------------------------------------------------------------------

Deno.test("Raft: a joining node is added as a learner and promoted to voter once caught up", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  for (let i = 0; i < 5; i++) c.propose("a", `v${i}`);
  c.add("d"); // empty: waits to be contacted
  c.drop = (m) => m.to === "d";
  const result = c.node("a").proposeConfChange({ type: "add", node: "d", context: "addr-d" });
  assert.equal(result.ok, true);
  c.process("a");
  c.deliverAll();
  let conf = c.node("a").conf;
  assert.deepEqual(conf.learners, ["d"]);
  assert.deepEqual(conf.voters, ["a", "b", "c"]);
  assert.equal(conf.context.d, "addr-d");
  // A second change while d is still a learner that cannot catch up: the add is committed,
  // so it is accepted, but d stays a learner.
  assert.equal(c.node("a").status().peers.find((p) => p.id === "d")?.voter, false);
  c.drop = () => false;
  c.tickAll(3);
  conf = c.node("a").conf;
  assert.deepEqual(conf.voters, ["a", "b", "c", "d"]);
  assert.deepEqual(conf.learners, []);
  assert.deepEqual(c.appliedTexts("d"), ["v0", "v1", "v2", "v3", "v4"]);
  assert.deepEqual(c.node("d").conf.voters, ["a", "b", "c", "d"]);
  // The config entries were handed out for applying like any other.
  const configs = c.applied.get("a")!.filter((e) => e.type === EntryType.Config);
  assert.deepEqual(configs.map((e) => decodeConfState(e.data).voters.length), [3, 3, 4]);
});

Deno.test("Raft: one membership change at a time, and none before the leader commits in its term", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.node("a").campaign();
  c.process("a");
  c.deliverAll();
  c.drop = (m) => m.from === "a" && m.type === "appendEntries";
  // Elected, no-op not committed yet... (a single round has committed it already here, so
  // check the second rule with an uncommitted change instead)
  c.add("d");
  c.add("e");
  const first = c.node("a").proposeConfChange({ type: "add", node: "d" });
  assert.equal(first.ok, true);
  const second = c.node("a").proposeConfChange({ type: "add", node: "e" });
  assert.deepEqual(second, { ok: false, reason: "conf-change-in-progress", leader: "a" });
  assert.deepEqual(c.node("a").proposeConfChange({ type: "remove", node: "zz" }), {
    ok: false,
    reason: "conf-change-in-progress",
    leader: "a",
  });
});

Deno.test("Raft: a freshly elected leader refuses a membership change until its no-op commits", () => {
  const a = restored("a", ["a", "b", "c"], [], 1, { preVote: false });
  a.campaign();
  drain(a);
  a.step({
    type: "requestVoteResponse",
    from: "b",
    to: "a",
    term: 2,
    granted: true,
    preVote: false,
  });
  drain(a);
  assert.equal(a.role, "leader");
  assert.deepEqual(a.proposeConfChange({ type: "add", node: "d" }), {
    ok: false,
    reason: "conf-change-in-progress",
    leader: "a",
  });
  ack(a, "b", 2);
  assert.equal(a.proposeConfChange({ type: "add", node: "d" }).ok, true);
});

Deno.test("Raft: a removed follower stops counting towards the quorum", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  assert.equal(c.node("a").proposeConfChange({ type: "remove", node: "c" }).ok, true);
  c.process("a");
  c.deliverAll();
  c.tickAll(1);
  assert.deepEqual(c.node("a").conf.voters, ["a", "b"]);
  // With c gone for good, a and b still commit.
  c.drop = (m) => m.to === "c" || m.from === "c";
  c.propose("a", "x");
  c.tickAll(1);
  assert.deepEqual(c.appliedTexts("b"), ["x"]);
  // c does not campaign: it is not a voter of its own membership.
  c.tick("c", 50);
  assert.notEqual(c.node("c").role, "candidate");
  assert.notEqual(c.node("c").role, "pre-candidate");
});

Deno.test("Raft: a leader that removes itself steps down once the change is committed", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  assert.equal(c.node("a").proposeConfChange({ type: "remove", node: "a" }).ok, true);
  c.process("a");
  c.deliverAll();
  assert.equal(c.node("a").role, "follower");
  assert.deepEqual(c.node("b").conf.voters, ["b", "c"]);
  c.tickAll(30);
  const leader = ["b", "c"].find((id) => c.node(id).role === "leader");
  assert.ok(leader !== undefined);
  c.propose(leader, "after");
  c.tickAll(1);
  assert.deepEqual(c.appliedTexts(leader === "b" ? "c" : "b"), ["after"]);
});

Deno.test("Raft: membership changes that do not apply are refused as invalid", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.tickAll(1);
  assert.equal(c.node("a").proposeConfChange({ type: "add", node: "b" }).ok, false);
  assert.equal(c.node("a").proposeConfChange({ type: "promote", node: "b" }).ok, false);
  assert.equal(c.node("a").proposeConfChange({ type: "remove", node: "zz" }).ok, false);
  assert.deepEqual(c.node("b").propose(text("x")), {
    ok: false,
    reason: "not-leader",
    leader: "a",
  });
});

// ---------------------------------------------------------------------------------------------
// Message shape.
// ---------------------------------------------------------------------------------------------

Deno.test("Raft: a heartbeat is anchored at the follower's match index and caps the commit at it", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.tickAll(1);
  c.drop = (m) => m.to === "c";
  c.propose("a", "x");
  c.queue = [];
  c.tick("a");
  const hb = c.queue.filter((m): m is AppendEntriesRequest =>
    m.type === "appendEntries" && m.to === "c"
  )[0]!;
  const a = c.node("a");
  const match = a.status().peers.find((p) => p.id === "c")!.match;
  assert.equal(hb.entries.length, 0);
  assert.equal(hb.prevLogIndex, match);
  assert.ok(hb.leaderCommit <= match);
  assert.ok(a.commitIndex > match);
  const response = (c.queue.find((m) => m.type === "appendEntriesResponse") ?? null) as
    | AppendEntriesResponse
    | null;
  assert.equal(response, null);
});

function removalLog(commit: number): Raft {
  return new Raft({
    id: "a",
    random: () => 0,
    storage: {
      hardState: { term: 2, vote: "", commit },
      snapshot: undefined,
      entries: [confEntry(["a", "b", "c"]), {
        index: 2,
        term: 2,
        type: EntryType.Config,
        data: encodeConfState({ voters: ["b", "c"], learners: [], context: {} }),
      }],
    },
  });
}

Deno.test("Raft: a node whose log ends with its own uncommitted removal still campaigns, counting the new voters", () => {
  const a = removalLog(1);
  for (let i = 0; i < 10; i++) a.tick();
  assert.equal(a.role, "pre-candidate");
  const requests = drain(a).filter(ofType("requestVote"));
  assert.deepEqual(requests.map((m) => m.to).sort(), ["b", "c"]);
  // Winning needs a majority of the new membership {b, c}; a's own vote does not count.
  a.step({
    type: "requestVoteResponse",
    from: "b",
    to: "a",
    term: 3,
    granted: true,
    preVote: true,
  });
  assert.equal(a.role, "pre-candidate");
  a.step({
    type: "requestVoteResponse",
    from: "c",
    to: "a",
    term: 3,
    granted: true,
    preVote: true,
  });
  assert.equal(a.role, "candidate");
});

Deno.test("Raft: a node whose removal is committed never campaigns", () => {
  const a = removalLog(2);
  for (let i = 0; i < 100; i++) a.tick();
  assert.equal(a.role, "follower");
  assert.equal(drain(a).length, 0);
});
