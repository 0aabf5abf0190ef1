/**
 * What the two peer transports' tests (raft_transport_test.ts, tcp_transport_test.ts) share:
 * a node on a free port that records what it receives and which peers it saw go, the
 * messages they send, and the scenarios both transports must pass alike.
 *
 * @module
 */
import assert from "node:assert/strict";
import { freePort, waitFor } from "@trading/testing";
import type {
  AppendEntriesRequest,
  InstallSnapshotRequest,
  Message,
  RequestVoteRequest,
} from "../core/types.ts";
import { Chaos, NO_CHAOS } from "./chaos.ts";
import type { PeerTransport } from "./peer_transport.ts";
import type { PeerTransportBaseOptions } from "./peer_transport_base.ts";

/** A started transport and what it has received and reported. */
export interface TestNode<T extends PeerTransport> {
  transport: T;
  /** Every message handed to `onMessage`, in order. */
  inbox: Message[];
  /** Every peer reported to `onPeerGone`, in order. */
  gone: string[];
  /** `127.0.0.1:port`, its bind and advertised address. */
  address: string;
}

/** Options of {@linkcode startTestNode}. */
export interface TestNodeOptions<T extends PeerTransport> {
  /** The port to listen on (default: a free one). */
  port?: number | undefined;
  /** Called after each message is put in the inbox. */
  onMessage?: ((m: Message, self: TestNode<T>) => void) | undefined;
}

/** Starts a node for the scenarios below: `(id, options) => node`. */
export type StartTestNode = (
  id: string,
  options?: TestNodeOptions<PeerTransport>,
) => Promise<TestNode<PeerTransport>>;

/**
 * Starts the transport `create` makes from the options every transport takes (node `id`,
 * 127.0.0.1 and a free port, its own chaos layer, `onMessage` and `onPeerGone` recording).
 */
export async function startTestNode<T extends PeerTransport>(
  id: string,
  create: (options: PeerTransportBaseOptions) => T,
  options: TestNodeOptions<T> = {},
): Promise<TestNode<T>> {
  const address = `127.0.0.1:${options.port ?? freePort()}`;
  const node = { inbox: [], gone: [], address } as unknown as TestNode<T>;
  node.transport = create({
    nodeId: id,
    bindAddr: address,
    advertiseAddr: address,
    chaos: new Chaos(id),
    onMessage: (m) => {
      node.inbox.push(m);
      options.onMessage?.(m, node);
    },
    onPeerGone: (peer) => node.gone.push(peer),
  });
  await node.transport.start();
  return node;
}

/** An AppendEntries of one entry at `index` (term 2). */
export function append(
  from: string,
  to: string,
  index: number,
  data = new Uint8Array(8),
): AppendEntriesRequest {
  return {
    type: "appendEntries",
    from,
    to,
    term: 2,
    prevLogIndex: index - 1,
    prevLogTerm: 2,
    entries: [{ index, term: 2, type: 0, data }],
    leaderCommit: index - 1,
    context: new Uint8Array(),
  };
}

/** A pre-vote RequestVote (term 5). */
export function vote(from: string, to: string): RequestVoteRequest {
  return {
    type: "requestVote",
    from,
    to,
    term: 5,
    lastLogIndex: 9,
    lastLogTerm: 4,
    preVote: true,
    transfer: false,
  };
}

/**
 * A peer that has no address for a sender answers it at the address the sender gave with its
 * connection (stream metadata or hello).
 */
export async function answersSenderKnownFromItsConnection(start: StartTestNode): Promise<void> {
  const a = await start("a");
  const b = await start("b", {
    onMessage: (m, self) => self.transport.send([{ ...vote("b", m.from), to: m.from }]),
  });
  try {
    a.transport.setPeers(new Map([["b", b.address]]));
    a.transport.send([vote("a", "b")]);
    await waitFor("b's answer at a", () => a.inbox.length === 1);
    assert.equal(b.transport.addressOf("a"), a.address);
    assert.equal(a.inbox[0]!.from, "b");
  } finally {
    await a.transport.close();
    await b.transport.close();
  }
}

/**
 * A 5 MiB InstallSnapshot arrives whole, as one message. Returns the snapshot's bytes as
 * sent and as received (a transport may hand over a Buffer: compared by content here).
 */
export async function carriesLargeSnapshot(
  start: StartTestNode,
): Promise<{ sent: Uint8Array; received: Uint8Array }> {
  const a = await start("a");
  const b = await start("b");
  try {
    a.transport.setPeers(new Map([["b", b.address]]));
    const data = new Uint8Array(5 * 1024 * 1024).map((_, i) => i % 251);
    a.transport.send([{
      type: "installSnapshot",
      from: "a",
      to: "b",
      term: 3,
      lastIncludedIndex: 1000,
      lastIncludedTerm: 3,
      configuration: new TextEncoder().encode('{"voters":["a"],"learners":[],"context":{}}'),
      data,
    }]);
    await waitFor("the snapshot at b", () => b.inbox.length === 1);
    const got = b.inbox[0]!;
    assert.equal(got.type, "installSnapshot");
    assert.ok(got.type === "installSnapshot");
    assert.equal(got.data.length, data.length);
    assert.equal(got.data[1000], data[1000]);
    assert.deepEqual(bytesOf(got), data);
    assert.equal(b.transport.counters.snapshotsReceived, 1);
    return { sent: data, received: got.data };
  } finally {
    await a.transport.close();
    await b.transport.close();
  }
}

/** The snapshot's data as a plain Uint8Array over the same bytes. */
function bytesOf(snapshot: InstallSnapshotRequest): Uint8Array {
  const { data } = snapshot;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A partition drops both directions at the partitioned node; heal opens them again. */
export async function partitionDropsBothWaysUntilHealed(start: StartTestNode): Promise<void> {
  const a = await start("a");
  const b = await start("b");
  try {
    a.transport.setPeers(new Map([["b", b.address]]));
    b.transport.setPeers(new Map([["a", a.address]]));
    a.transport.send([vote("a", "b")]);
    b.transport.send([vote("b", "a")]);
    await waitFor("both directions open", () => a.inbox.length === 1 && b.inbox.length === 1);

    a.transport.chaos.partition(["b"]);
    a.transport.send([vote("a", "b")]);
    b.transport.send([vote("b", "a")]);
    await waitFor("a's partition drops", () => a.transport.chaos.dropped === 2);
    assert.equal(a.inbox.length, 1);
    assert.equal(b.inbox.length, 1);
    assert.equal(a.transport.counters.dropped.get("partition"), 2);

    a.transport.chaos.heal();
    a.transport.send([vote("a", "b")]);
    b.transport.send([vote("b", "a")]);
    await waitFor("both directions open again", () => a.inbox.length === 2 && b.inbox.length === 2);
  } finally {
    await a.transport.close();
    await b.transport.close();
  }
}

/** Chaos drops and delays configured at runtime apply to the next sends. */
export async function appliesChaosChangedAtRuntime(start: StartTestNode): Promise<void> {
  const a = await start("a");
  const b = await start("b");
  try {
    a.transport.setPeers(new Map([["b", b.address]]));
    a.transport.chaos.configure({ ...NO_CHAOS, enabled: true, dropPct: 100, seed: 3 });
    a.transport.send(Array.from({ length: 20 }, () => vote("a", "b")));
    assert.equal(a.transport.chaos.dropped, 20);
    assert.equal(a.transport.counters.dropped.get("chaos"), 20);
    a.transport.chaos.configure({ ...NO_CHAOS, enabled: true, delayMsMin: 100, delayMsMax: 100 });
    const sentAt = performance.now();
    a.transport.send([vote("a", "b")]);
    await waitFor("the delayed message", () => b.inbox.length === 1);
    const elapsed = performance.now() - sentAt;
    assert.ok(elapsed >= 95, `delivered after ${elapsed} ms, expected at least 100`);
    assert.equal(a.transport.chaos.delayed, 1);
    assert.equal(b.inbox.length, 1);
  } finally {
    await a.transport.close();
    await b.transport.close();
  }
}
