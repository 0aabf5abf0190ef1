import assert from "node:assert/strict";
import { freePort, waitFor } from "@trading/testing";
import type { AppendEntriesRequest } from "../core/types.ts";
import { RaftTransport } from "./raft_transport.ts";
import {
  answersSenderKnownFromItsConnection,
  append,
  appliesChaosChangedAtRuntime,
  carriesLargeSnapshot,
  partitionDropsBothWaysUntilHealed,
  startTestNode,
  type TestNode,
  type TestNodeOptions,
  vote,
} from "./transport_test_helpers.ts";

type Node = TestNode<RaftTransport>;

function startNode(
  id: string,
  options: TestNodeOptions<RaftTransport> & { stream?: boolean; clusterSecret?: string } = {},
): Promise<Node> {
  const { stream = true, clusterSecret, ...node } = options;
  return startTestNode(
    id,
    (common) => new RaftTransport({ ...common, stream, clusterSecret }),
    node,
  );
}

Deno.test("RaftTransport streams messages to a peer in order, intact", async () => {
  const a = await startNode("a");
  const b = await startNode("b");
  try {
    a.transport.setPeers(new Map([["b", b.address]]));
    const sent = Array.from({ length: 200 }, (_, i) => append("a", "b", i + 1));
    a.transport.send(sent);
    await waitFor("200 messages at b", () => b.inbox.length === 200);
    assert.deepEqual(
      b.inbox.map((m) => (m as AppendEntriesRequest).entries[0]!.index),
      sent.map((m) => m.entries[0]!.index),
    );
    const first = b.inbox[0] as AppendEntriesRequest;
    assert.equal(first.type, "appendEntries");
    // Taken on node:http2 directly, not by grpc-js' handler.
    assert.equal(b.transport.counters.streamsAccepted, 1);
    assert.equal(first.term, 2);
    assert.equal(first.prevLogIndex, 0);
    assert.equal(first.entries[0]!.data.length, 8);
    assert.equal(a.transport.counters.sent.get("appendEntries"), 200);
  } finally {
    await a.transport.close();
    await b.transport.close();
  }
});

Deno.test(
  "RaftTransport lets a peer answer a sender it only knows from the stream metadata",
  () => answersSenderKnownFromItsConnection(startNode),
);

Deno.test("RaftTransport carries a 5 MiB InstallSnapshot in one message", async () => {
  await carriesLargeSnapshot(startNode);
});

Deno.test("RaftTransport in unary mode returns the core's response as the call's result", async () => {
  const a = await startNode("a", { stream: false });
  const b = await startNode("b", {
    stream: false,
    onMessage: (m, self) =>
      self.transport.send([{
        type: "requestVoteResponse",
        from: "b",
        to: m.from,
        term: 5,
        granted: true,
        preVote: true,
      }]),
  });
  try {
    a.transport.setPeers(new Map([["b", b.address]]));
    a.transport.send([vote("a", "b")]);
    await waitFor("the vote response at a", () => a.inbox.length === 1);
    assert.equal(a.inbox[0]!.type, "requestVoteResponse");
    assert.equal(a.inbox[0]!.type === "requestVoteResponse" && a.inbox[0]!.granted, true);
    // b answered through the unary result, not through a stream of its own.
    assert.equal(b.transport.counters.sent.get("requestVoteResponse"), 1);
    assert.equal(b.transport.addressOf("a"), a.address);
  } finally {
    await a.transport.close();
    await b.transport.close();
  }
});

Deno.test("RaftTransport drops messages for a peer that is down and delivers once it is up", async () => {
  const port = freePort();
  const a = await startNode("a");
  let b: Node | undefined;
  try {
    a.transport.setPeers(new Map([["b", `127.0.0.1:${port}`]]));
    a.transport.send([vote("a", "b")]);
    await waitFor(
      "a drop for the unreachable peer",
      () =>
        (a.transport.counters.dropped.get("unreachable") ?? 0) > 0 ||
        (a.transport.counters.sent.get("requestVote") ?? 0) > 0,
    );
    b = await startNode("b", { port });
    const started = performance.now();
    await waitFor("a message through the reconnected stream", () => {
      a.transport.send([vote("a", "b")]);
      return b!.inbox.length > 0;
    }, { timeoutMs: 5000, intervalMs: 20 });
    console.log(`reconnected after ${Math.round(performance.now() - started)} ms`);
  } finally {
    await a.transport.close();
    await b?.transport.close();
  }
});

Deno.test(
  "RaftTransport partition drops what the node sends and what it receives, heal restores",
  () => partitionDropsBothWaysUntilHealed(startNode),
);

Deno.test(
  "RaftTransport applies chaos settings changed at runtime",
  () => appliesChaosChangedAtRuntime(startNode),
);

Deno.test("RaftTransport refuses a message addressed to another node", async () => {
  const a = await startNode("a");
  const b = await startNode("b");
  try {
    // a believes "c" lives at b's address: b must not hand c's message to its core.
    a.transport.setPeers(new Map([["c", b.address]]));
    a.transport.send([vote("a", "c"), vote("a", "c")]);
    await waitFor("the sends", () => (a.transport.counters.sent.get("requestVote") ?? 0) === 2);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(b.inbox.length, 0);
  } finally {
    await a.transport.close();
    await b.transport.close();
  }
});

Deno.test("RaftTransport with a cluster secret takes messages only from peers that send it", async () => {
  const secret = "raft-transport-test-secret-0123";
  const b = await startNode("b", { clusterSecret: secret });
  const trusted = await startNode("a", { clusterSecret: secret });
  const streamStranger = await startNode("x");
  const unaryStranger = await startNode("y", { stream: false });
  const wrongSecret = await startNode("z", { clusterSecret: "another-secret-0123456789" });
  try {
    for (const stranger of [streamStranger, unaryStranger, wrongSecret]) {
      stranger.transport.setPeers(new Map([["b", b.address]]));
    }
    // Sent first, and again below: nothing of it may arrive.
    const strangers = () => {
      streamStranger.transport.send([append("x", "b", 1)]);
      unaryStranger.transport.send([vote("y", "b")]);
      wrongSecret.transport.send([append("z", "b", 1)]);
    };
    strangers();
    await new Promise((resolve) => setTimeout(resolve, 300));
    strangers();
    trusted.transport.setPeers(new Map([["b", b.address]]));
    trusted.transport.send(Array.from({ length: 5 }, (_, i) => append("a", "b", i + 1)));
    await waitFor("the trusted peer's 5 messages", () => b.inbox.length >= 5);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(new Set(b.inbox.map((m) => m.from)), new Set(["a"]));
    assert.equal(b.inbox.length, 5);
    assert.equal(b.transport.addressOf("x"), undefined, "nothing learned from a refused stream");
  } finally {
    for (const node of [b, trusted, streamStranger, unaryStranger, wrongSecret]) {
      await node.transport.close();
    }
  }
});
