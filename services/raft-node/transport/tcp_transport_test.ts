import assert from "node:assert/strict";
import { RaftEnvelope } from "@trading/proto/raft";
import { waitFor } from "@trading/testing";
import type { AppendEntriesRequest } from "../core/types.ts";
import { toEnvelope } from "./envelope.ts";
import {
  encodeFrame,
  encodeHelloFrame,
  encodeMessageFrame,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameKind,
  TCP_PROTOCOL,
} from "./tcp_frames.ts";
import { TcpTransport, type TcpTransportOptions } from "./tcp_transport.ts";
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

type Node = TestNode<TcpTransport>;

function startNode(
  id: string,
  options:
    & TestNodeOptions<TcpTransport>
    & Partial<
      Pick<
        TcpTransportOptions,
        "clusterSecret" | "maxQueuedBytes" | "maxFrameBytes" | "maxPendingConnections"
      >
    > = {},
): Promise<Node> {
  const { port, onMessage, ...tcp } = options;
  return startTestNode(id, (common) => new TcpTransport({ ...common, ...tcp }), {
    port,
    onMessage,
  });
}

/** A raw connection to `address` that has sent a valid hello from `from`. */
async function rawPeer(address: string, from: string, secret?: string): Promise<Deno.TcpConn> {
  const [hostname, port] = address.split(":");
  const conn = await Deno.connect({ hostname: hostname!, port: Number(port) });
  await conn.write(encodeHelloFrame({
    protocol: TCP_PROTOCOL,
    from,
    addr: "127.0.0.1:1",
    ...(secret === undefined ? {} : { secret }),
  }));
  return conn;
}

/** Resolves true once the other end closes `conn` (a read sees the end). */
async function closedByPeer(conn: Deno.TcpConn): Promise<boolean> {
  const buffer = new Uint8Array(1024);
  try {
    while (await conn.read(buffer) !== null) {
      // The transport sends nothing back: only the end matters.
    }
  } catch {
    // Reset by the peer: closed too.
  }
  return true;
}

Deno.test("FrameDecoder splits frames across any chunking and refuses an oversized one", () => {
  const frames = [append("a", "b", 1), vote("a", "b"), append("a", "b", 2)]
    .map(encodeMessageFrame);
  const bytes = new Uint8Array(frames.reduce((n, f) => n + f.byteLength, 0));
  let offset = 0;
  for (const frame of frames) {
    bytes.set(frame, offset);
    offset += frame.byteLength;
  }
  for (const size of [1, 3, 7, bytes.byteLength]) {
    const decoder = new FrameDecoder(1024);
    const got = [];
    for (let i = 0; i < bytes.byteLength; i += size) {
      got.push(...decoder.push(bytes.slice(i, i + size)));
    }
    assert.deepEqual(got.map((f) => f.kind), [2, 2, 2]);
    assert.deepEqual(
      got.map((f) => RaftEnvelope.decode(f.payload).message?.$case),
      ["appendEntries", "requestVote", "appendEntries"],
    );
  }
  const header = new Uint8Array(FRAME_HEADER_BYTES);
  new DataView(header.buffer).setUint32(0, 1025);
  assert.throws(() => new FrameDecoder(1024).push(header), /1025 bytes: expected at most 1024/);
});

Deno.test("TcpTransport delivers messages to a peer in order, intact, on one connection", async () => {
  const a = await startNode("a");
  const b = await startNode("b");
  try {
    a.transport.setPeers(new Map([["b", b.address]]));
    const sent = Array.from({ length: 200 }, (_, i) => append("a", "b", i + 1));
    // Sent at once, before the connection is up: they wait for it, in order.
    a.transport.send(sent.slice(0, 100));
    await waitFor("the first 100 at b", () => b.inbox.length === 100);
    a.transport.send(sent.slice(100));
    await waitFor("200 messages at b", () => b.inbox.length === 200);
    assert.deepEqual(
      b.inbox.map((m) => (m as AppendEntriesRequest).entries[0]!.index),
      sent.map((m) => m.entries[0]!.index),
    );
    const first = b.inbox[0] as AppendEntriesRequest;
    assert.equal(first.type, "appendEntries");
    assert.equal(first.term, 2);
    assert.equal(first.entries[0]!.data.length, 8);
    assert.equal(b.transport.counters.streamsAccepted, 1);
    assert.equal(a.transport.counters.sent.get("appendEntries"), 200);
    assert.equal(a.transport.counters.dropped.size, 0);
  } finally {
    await a.transport.close();
    await b.transport.close();
  }
});

Deno.test(
  "TcpTransport lets a peer answer a sender it only knows from the hello",
  () => answersSenderKnownFromItsConnection(startNode),
);

Deno.test(
  "TcpTransport carries a 5 MiB InstallSnapshot in one message",
  async () => {
    const { sent, received } = await carriesLargeSnapshot(startNode);
    // Decoded from its frame into a plain Uint8Array (the gRPC transport hands a Buffer).
    assert.deepEqual(received, sent);
  },
);

Deno.test("TcpTransport with a cluster secret refuses and counts peers without it", async () => {
  const secret = "tcp-transport-test-secret-0123456789";
  const b = await startNode("b", { clusterSecret: secret });
  const trusted = await startNode("a", { clusterSecret: secret });
  const stranger = await startNode("x");
  const wrongSecret = await startNode("z", { clusterSecret: "another-secret-0123456789" });
  try {
    stranger.transport.setPeers(new Map([["b", b.address]]));
    wrongSecret.transport.setPeers(new Map([["b", b.address]]));
    stranger.transport.send([append("x", "b", 1)]);
    wrongSecret.transport.send([append("z", "b", 1)]);
    await waitFor(
      "both strangers refused",
      () =>
        // Each redial (with backoff) is refused and counted again.
        (b.transport.counters.refused.get("secret-missing") ?? 0) >= 1 &&
        (b.transport.counters.refused.get("secret-wrong") ?? 0) >= 1,
    );
    // Refused connections close: the strangers see their peer gone and dial again.
    await waitFor(
      "the strangers' connections closed",
      () => stranger.gone.includes("b") && wrongSecret.gone.includes("b"),
    );
    trusted.transport.setPeers(new Map([["b", b.address]]));
    trusted.transport.send(Array.from({ length: 5 }, (_, i) => append("a", "b", i + 1)));
    await waitFor("the trusted peer's 5 messages", () => b.inbox.length >= 5);
    stranger.transport.send([append("x", "b", 1)]);
    wrongSecret.transport.send([append("z", "b", 1)]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(new Set(b.inbox.map((m) => m.from)), new Set(["a"]));
    assert.equal(b.inbox.length, 5);
    assert.equal(b.transport.addressOf("x"), undefined, "nothing learned from a refused hello");
    assert.equal(b.transport.addressOf("z"), undefined, "nothing learned from a refused hello");
    assert.equal(b.transport.counters.streamsAccepted, 1);
  } finally {
    for (const node of [b, trusted, stranger, wrongSecret]) await node.transport.close();
  }
});

Deno.test("TcpTransport closes only the connection that sent a malformed frame", async () => {
  const b = await startNode("b", { maxFrameBytes: 1024 * 1024 });
  const a = await startNode("a");
  const raw: Deno.TcpConn[] = [];
  try {
    a.transport.setPeers(new Map([["b", b.address]]));
    a.transport.send([vote("a", "b")]);
    await waitFor("a's first message at b", () => b.inbox.length === 1);
    const notProtobuf = await rawPeer(b.address, "m1");
    const unknownKind = await rawPeer(b.address, "m2");
    const oversized = await rawPeer(b.address, "m3");
    const noHello = await Deno.connect({ hostname: "127.0.0.1", port: b.transport.port });
    raw.push(notProtobuf, unknownKind, oversized, noHello);
    await notProtobuf.write(encodeFrame(FrameKind.envelope, new Uint8Array([0xff, 0xff, 0xff])));
    await unknownKind.write(encodeFrame(9, new Uint8Array([1, 2, 3])));
    const header = new Uint8Array(FRAME_HEADER_BYTES);
    new DataView(header.buffer).setUint32(0, 2 ** 31);
    header[4] = FrameKind.envelope;
    await oversized.write(header);
    // A message straight away, without a hello.
    await noHello.write(encodeMessageFrame(vote("m4", "b")));
    for (const conn of raw) assert.equal(await closedByPeer(conn), true);
    assert.equal(b.transport.counters.refused.get("malformed-frame"), 3);
    assert.equal(b.transport.counters.refused.get("handshake"), 1);
    // The honest peer's connection was not touched.
    a.transport.send([vote("a", "b")]);
    await waitFor("a's second message at b", () => b.inbox.length === 2);
    assert.deepEqual(b.inbox.map((m) => m.from), ["a", "a"]);
    assert.equal(a.gone.length, 0, "a's connection never closed");
    assert.equal(b.transport.counters.streamsAccepted, 4);
  } finally {
    for (const conn of raw) {
      try {
        conn.close();
      } catch {
        // Closed by the transport.
      }
    }
    await a.transport.close();
    await b.transport.close();
  }
});

Deno.test("TcpTransport closes a connection beyond its cap of connections without a hello; a member still gets in", async () => {
  const b = await startNode("b", { maxPendingConnections: 3 });
  const a = await startNode("a");
  const strangers: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      strangers.push(await Deno.connect({ hostname: "127.0.0.1", port: b.transport.port }));
    }
    await waitFor("three strangers pending", () => b.transport.pendingConnections === 3);
    const fourth = await Deno.connect({ hostname: "127.0.0.1", port: b.transport.port });
    assert.equal(await closedByPeer(fourth), true);
    assert.equal(b.transport.counters.refused.get("too-many-pending"), 1);
    // The three stay until their hello timeout; once one leaves, a member that says hello
    // is admitted.
    strangers.pop()!.close();
    await waitFor("two strangers pending", () => b.transport.pendingConnections === 2);
    a.transport.setPeers(new Map([["b", b.address]]));
    a.transport.send([vote("a", "b")]);
    await waitFor("a's message at b", () => b.inbox.length === 1);
    // Once admitted, a no longer counts: a new stranger fits in its place.
    strangers.push(await Deno.connect({ hostname: "127.0.0.1", port: b.transport.port }));
    await waitFor("three strangers pending again", () => b.transport.pendingConnections === 3);
    assert.equal(b.transport.counters.refused.get("too-many-pending"), 1);
  } finally {
    for (const conn of strangers) {
      try {
        conn.close();
      } catch {
        // Closed by the transport.
      }
    }
    await a.transport.close();
    await b.transport.close();
  }
});

Deno.test("TcpTransport drops a message for another node and keeps the connection", async () => {
  const b = await startNode("b");
  const conn = await rawPeer(b.address, "a");
  try {
    await conn.write(encodeMessageFrame(vote("a", "c")));
    await conn.write(encodeMessageFrame(vote("a", "b")));
    await waitFor("the message for b", () => b.inbox.length === 1);
    assert.equal(b.inbox[0]!.to, "b");
    assert.equal(b.transport.counters.refused.size, 0);
    // Still open: a further message arrives on it.
    await conn.write(encodeMessageFrame(vote("a", "b")));
    await waitFor("another message on the same connection", () => b.inbox.length === 2);
  } finally {
    conn.close();
    await b.transport.close();
  }
});

Deno.test("TcpTransport reports peerGone when a connection closes, at both ends", async () => {
  const a = await startNode("a");
  const b = await startNode("b");
  try {
    a.transport.setPeers(new Map([["b", b.address]]));
    a.transport.send([vote("a", "b")]);
    await waitFor("a's message at b", () => b.inbox.length === 1);
    assert.deepEqual([a.gone, b.gone], [[], []]);
    await b.transport.close();
    // a's connection to b closed under it.
    await waitFor("a sees b gone", () => a.gone.includes("b"));

    const c = await startNode("c");
    try {
      c.transport.setPeers(new Map([["a", a.address]]));
      c.transport.send([vote("c", "a")]);
      await waitFor("c's message at a", () => a.inbox.length === 1);
      await c.transport.close();
      // c's connection to a (a's inbound one) closed.
      await waitFor("a sees c gone", () => a.gone.includes("c"));
    } finally {
      await c.transport.close();
    }
  } finally {
    await a.transport.close();
    await b.transport.close();
  }
});

Deno.test("TcpTransport drops messages while a peer is down and reconnects once it restarts", async () => {
  const a = await startNode("a");
  let b = await startNode("b");
  const port = b.transport.port;
  try {
    a.transport.setPeers(new Map([["b", b.address]]));
    a.transport.send([vote("a", "b")]);
    await waitFor("a's message at b", () => b.inbox.length === 1);
    await b.transport.close();
    await waitFor("a sees b gone", () => a.gone.includes("b"));
    await waitFor("a drop for the peer that is down", () => {
      a.transport.send([vote("a", "b")]);
      return (a.transport.counters.dropped.get("unreachable") ?? 0) > 0;
    }, { intervalMs: 10 });
    b = await startNode("b", { port });
    await waitFor("a message through the new connection", () => {
      a.transport.send([vote("a", "b")]);
      return b.inbox.length > 0;
    }, { timeoutMs: 10_000, intervalMs: 20 });
    assert.equal(b.inbox[0]!.from, "a");
  } finally {
    await a.transport.close();
    await b.transport.close();
  }
});

Deno.test("TcpTransport bounds what waits for a peer and drops the newest beyond it", async () => {
  const a = await startNode("a", { maxQueuedBytes: 1024 * 1024 });
  const b = await startNode("b");
  try {
    a.transport.setPeers(new Map([["b", b.address]]));
    // One turn: nothing is written before the queue is full.
    const big = Array.from(
      { length: 10 },
      (_, i) => append("a", "b", i + 1, new Uint8Array(256 * 1024)),
    );
    a.transport.send(big);
    assert.equal(a.transport.counters.sent.get("appendEntries"), 3);
    assert.equal(a.transport.counters.dropped.get("backpressure"), 7);
    await waitFor("the 3 queued at b", () => b.inbox.length === 3);
    assert.deepEqual(b.inbox.map((m) => (m as AppendEntriesRequest).entries[0]!.index), [1, 2, 3]);
  } finally {
    await a.transport.close();
    await b.transport.close();
  }
});

Deno.test(
  "TcpTransport partition drops what the node sends and what it receives, heal restores",
  () => partitionDropsBothWaysUntilHealed(startNode),
);

Deno.test(
  "TcpTransport applies chaos drops and delays changed at runtime",
  () => appliesChaosChangedAtRuntime(startNode),
);

Deno.test("TcpTransport encodes the gRPC stream's envelope inside its frames", () => {
  const message = append("a", "b", 7);
  const frame = encodeMessageFrame(message);
  assert.equal(frame[4], FrameKind.envelope);
  assert.equal(new DataView(frame.buffer, frame.byteOffset).getUint32(0), frame.byteLength - 5);
  assert.deepEqual(
    frame.subarray(FRAME_HEADER_BYTES),
    RaftEnvelope.encode(toEnvelope(message)).finish(),
  );
});
