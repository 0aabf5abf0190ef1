/**
 * The TCP peer transport (`RAFT_TRANSPORT=tcp`): Raft messages as length-prefixed binary
 * frames (tcp_frames.ts) on one persistent connection per peer and direction, as HashiCorp
 * Raft's NetworkTransport carries them, instead of gRPC over HTTP/2 (raft_transport.ts), whose
 * framing in JavaScript cost latency on every message. It keeps what the gRPC transport does:
 *
 * - One-way, pipelined: a message is written without waiting for anything back (responses
 *   come on the peer's own connection to us), in order; the messages of one `send` go out in
 *   one socket write, before `send` returns.
 * - A peer that is down: its connection is re-dialled with backoff; what is sent meanwhile is
 *   dropped and counted (Raft retransmits). What waits to be written is bounded
 *   ({@linkcode MAX_QUEUED_BYTES}): a stalled peer drops the newest messages.
 * - A closed connection, ours to a peer or a peer's to us, calls `onPeerGone` (the node loop
 *   stops waiting an election timeout for a leader that is gone).
 * - The chaos layer (chaos.ts): drops, delays and partitions at the sender, partitions at the
 *   receiver too.
 * - `CLUSTER_SECRET`: the first frame (hello) carries the sender's id, address and secret; a
 *   connection without the right secret is closed before anything else of it is read or
 *   learned, and counted in `raft_peer_connections_refused_total`. Before the hello a frame
 *   may be at most {@linkcode MAX_HELLO_BYTES}, so a stranger cannot make us buffer more.
 * - A frame that does not decode (above the size limit, an unknown kind, an envelope that is
 *   not protobuf) closes that connection only; a message that decodes but is for another node
 *   is dropped, as on the gRPC stream. The node loop's peer message guard judges the rest.
 *
 * @module
 */
import { RaftEnvelope } from "@trading/proto/raft";
import { clusterSecretMatches } from "@trading/shared/cluster-secret";
import { parseHostPort } from "@trading/shared/config";
import { counter } from "@trading/shared/metrics";
import { errorMessage } from "@trading/shared/retry";
import type { Message } from "../core/types.ts";
import {
  newTransportCounters,
  parseBindAddr,
  PeerTransportBase,
  type PeerTransportBaseOptions,
  RedialBackoff,
  type SendResult,
  type TransportCounters,
} from "./peer_transport_base.ts";
import {
  decodeHello,
  encodeHelloFrame,
  encodeMessageFrame,
  type Frame,
  FrameDecoder,
  FrameKind,
  type Hello,
  TCP_PROTOCOL,
} from "./tcp_frames.ts";

/** Most bytes waiting to be written to one peer before new messages are dropped. */
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024;
/** The largest frame accepted from an authenticated peer (as the gRPC stream's limit). */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** The largest frame accepted before the hello. */
export const MAX_HELLO_BYTES = 4096;
/** How long an accepted connection may take to send its hello. */
const HELLO_TIMEOUT_MS = 5000;
/**
 * Most accepted connections that have not yet sent a valid hello: one more is closed at
 * once (`too-many-pending`). Peers authenticate within one round trip, so this bounds what a
 * stranger can hold (each such connection is also closed after {@linkcode HELLO_TIMEOUT_MS})
 * without ever refusing a member that got its hello through.
 */
export const MAX_PENDING_CONNECTIONS = 64;
/** Bytes asked of the socket per read. */
const READ_BYTES = 64 * 1024;
/** At most one warning per this many ms about refused or malformed connections. */
const WARN_INTERVAL_MS = 10_000;

/** Why an accepted connection was closed by this node. */
export type RefusalReason =
  | "secret-missing"
  | "secret-wrong"
  | "handshake"
  | "malformed-frame"
  | "too-many-pending";

/**
 * Options of {@linkcode TcpTransport}. `clusterSecret`: required in a peer's hello when set,
 * and sent in ours.
 */
export interface TcpTransportOptions extends PeerTransportBaseOptions {
  /** The largest frame accepted from a peer (default {@linkcode MAX_FRAME_BYTES}). */
  readonly maxFrameBytes?: number;
  /** Most bytes queued for one peer (default {@linkcode MAX_QUEUED_BYTES}). */
  readonly maxQueuedBytes?: number;
  /** Most connections without a hello yet (default {@linkcode MAX_PENDING_CONNECTIONS}). */
  readonly maxPendingConnections?: number;
}

/** The counters of the TCP transport: the gRPC transport's, and its refusals. */
export interface TcpTransportCounters extends TransportCounters {
  /** Connections this node closed, by reason. */
  readonly refused: Map<RefusalReason, number>;
}

/**
 * The TCP transport of one node: a listener for peers and one sender per peer.
 *
 * @example
 * ```ts
 * const transport = new TcpTransport({ nodeId: "a", bindAddr, advertiseAddr: bindAddr, chaos, onMessage });
 * await transport.start();
 * transport.setPeers(new Map([["b", "127.0.0.1:7001"]]));
 * transport.send(ready.messages);
 * ```
 */
export class TcpTransport extends PeerTransportBase<PeerConnection, TcpTransportCounters> {
  readonly #options: TcpTransportOptions;
  readonly #maxFrameBytes: number;
  #listener: Deno.TcpListener | undefined;
  /** Senders with messages queued by the current send(), written at its end. */
  #unflushed = new Set<PeerConnection>();
  #inbound = new Set<Deno.TcpConn>();
  /** Accepted connections that have not sent a valid hello yet. */
  #pending = 0;
  #lastWarn = -Infinity;
  #unwarned = 0;

  constructor(options: TcpTransportOptions) {
    super(options, { ...newTransportCounters(), refused: new Map() });
    this.#options = options;
    this.#maxFrameBytes = options.maxFrameBytes ?? MAX_FRAME_BYTES;
  }

  /** Accepted connections that have not sent a valid hello yet. */
  get pendingConnections(): number {
    return this.#pending;
  }

  /** The port the listener is bound to (after {@linkcode start}). */
  get port(): number {
    if (!this.#listener) throw new Error("TcpTransport is not started: expected start() first");
    return this.#listener.addr.port;
  }

  /** Listens on `bindAddr` and accepts peers' connections. */
  start(): Promise<void> {
    const bind = parseBindAddr(this.#options.bindAddr);
    this.#listener = Deno.listen({ hostname: bind.host, port: bind.port, transport: "tcp" });
    this.#acceptLoop(this.#listener);
    return Promise.resolve();
  }

  async #acceptLoop(listener: Deno.TcpListener): Promise<void> {
    while (!this.closed) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (this.closed || error instanceof Deno.errors.BadResource) return;
        this.log.warn("accepting a raft peer connection failed: {error}", {
          error: errorMessage(error),
        });
        // A full file table: let connections close before trying again.
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      if (this.closed) {
        conn.close();
        return;
      }
      this.#serve(conn);
    }
  }

  /** Reads one peer's connection: its hello, then its messages, until it closes. */
  async #serve(conn: Deno.TcpConn): Promise<void> {
    const remote = `${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`;
    if (this.#pending >= (this.#options.maxPendingConnections ?? MAX_PENDING_CONNECTIONS)) {
      this.#refuse(conn, "too-many-pending", remote, "too many connections without a hello");
      return;
    }
    this.#pending++;
    let pending = true;
    const admitted = () => {
      if (pending) this.#pending--;
      pending = false;
    };
    this.#inbound.add(conn);
    conn.setNoDelay(true);
    const reader = new ChunkReader(conn);
    const decoder = new FrameDecoder(MAX_HELLO_BYTES);
    let hello: Hello | undefined;
    const helloTimer = setTimeout(() => {
      if (hello === undefined) this.#refuse(conn, "handshake", remote, "no hello in time");
    }, HELLO_TIMEOUT_MS);
    try {
      while (!this.closed) {
        const chunk = await reader.read();
        if (chunk === null) break;
        let frames: Frame[];
        try {
          if (hello === undefined) {
            frames = decoder.push(chunk, 1);
            const first = frames[0];
            if (first === undefined) continue;
            hello = this.#admit(conn, first, remote);
            if (hello === undefined) break;
            admitted();
            clearTimeout(helloTimer);
            decoder.maxBytes = this.#maxFrameBytes;
            frames = decoder.push(new Uint8Array());
          } else {
            frames = decoder.push(chunk);
          }
          for (const frame of frames) this.#receiveFrame(frame);
        } catch (error) {
          this.#refuse(
            conn,
            hello === undefined ? "handshake" : "malformed-frame",
            remote,
            errorMessage(error),
          );
          break;
        }
      }
    } finally {
      admitted();
      clearTimeout(helloTimer);
      this.#inbound.delete(conn);
      closeQuietly(conn);
      if (hello !== undefined) this.peerGone(hello.from);
    }
  }

  /** Checks a connection's first frame; returns its hello, or undefined when refused. */
  #admit(conn: Deno.TcpConn, frame: Frame, remote: string): Hello | undefined {
    if (frame.kind !== FrameKind.hello) {
      throw new Error(`Invalid raft-tcp frame kind ${frame.kind}: expected a hello first`);
    }
    const hello = decodeHello(frame.payload);
    const secret = this.#options.clusterSecret;
    if (secret !== undefined && !clusterSecretMatches(secret, hello.secret)) {
      const reason = hello.secret === undefined ? "secret-missing" : "secret-wrong";
      this.#refuse(conn, reason, remote, "expected this cluster's CLUSTER_SECRET in the hello");
      return undefined;
    }
    this.counters.streamsAccepted++;
    this.learnAddress(hello.from, hello.addr);
    return hello;
  }

  #receiveFrame(frame: Frame): void {
    if (frame.kind !== FrameKind.envelope) {
      throw new Error(`Invalid raft-tcp frame kind ${frame.kind}: expected an envelope`);
    }
    // Not protobuf: the peer is broken, the connection goes (in the caller).
    this.receiveEnvelope(RaftEnvelope.decode(frame.payload));
  }

  #refuse(conn: Deno.TcpConn, reason: RefusalReason, remote: string, detail: string): void {
    this.counters.refused.set(reason, (this.counters.refused.get(reason) ?? 0) + 1);
    counter(
      "raft_peer_connections_refused_total",
      "Raft peer connections (TCP transport) closed for a missing or wrong cluster secret, a bad hello or a malformed frame",
      ["reason"],
    ).inc({ reason });
    this.#unwarned++;
    const now = performance.now();
    if (now - this.#lastWarn >= WARN_INTERVAL_MS) {
      this.log.warn("closed {count} raft peer connection(s), the last from {peer}: {reason}", {
        count: this.#unwarned,
        peer: remote,
        reason,
        detail,
      });
      this.#lastWarn = now;
      this.#unwarned = 0;
    }
    closeQuietly(conn);
  }

  /**
   * Sends messages through the chaos layer. Never throws and never blocks: a message that
   * cannot go now is dropped and counted.
   */
  override send(messages: readonly Message[]): void {
    super.send(messages);
    // Now, not in a microtask: the loop's early AppendEntries must be on the wire before it
    // goes on to its synchronous write and fsync (a Deno socket write starts at once).
    this.#flushQueued();
  }

  protected override deliverDelayed(message: Message): void {
    this.deliverOut(message);
    this.#flushQueued();
  }

  #flushQueued(): void {
    for (const sender of this.#unflushed) sender.flush();
    this.#unflushed.clear();
  }

  protected deliverOut(message: Message): void {
    if (this.closed) return;
    const sender = this.sender(message.to);
    if (!sender) return this.drop("no-address");
    const result = sender.send(message);
    if (result === "sent") {
      this.#unflushed.add(sender);
      this.countSent(message.type);
    } else {
      this.drop(result);
    }
  }

  protected connect(peer: string, address: string): PeerConnection {
    return new PeerConnection(this, peer, address, {
      protocol: TCP_PROTOCOL,
      from: this.nodeId,
      addr: this.#options.advertiseAddr,
      ...(this.#options.clusterSecret === undefined ? {} : { secret: this.#options.clusterSecret }),
    }, this.#options.maxQueuedBytes ?? MAX_QUEUED_BYTES);
  }

  protected retireSender(sender: PeerConnection): void {
    sender.close();
  }

  /**
   * Closes every connection and the listener, and cancels delayed messages. (The options
   * argument is the gRPC transport's; a TCP connection's close sends no GOAWAY.)
   */
  close(_options: { closeChannels?: boolean } = {}): Promise<void> {
    if (!this.markClosed()) return Promise.resolve();
    this.closeSenders((sender) => sender.close());
    for (const conn of this.#inbound) closeQuietly(conn);
    this.#inbound.clear();
    if (this.#listener) closeQuietly(this.#listener);
    return Promise.resolve();
  }
}

/**
 * Our connection to one peer: dialled at once, re-dialled with backoff when it closes. The
 * hello and the messages sent while it connects wait in the queue, so nothing waits for the
 * connection but the first bytes; each batch is written in one write.
 */
class PeerConnection {
  readonly peer: string;
  readonly address: string;
  readonly #transport: TcpTransport;
  readonly #helloFrame: Uint8Array;
  readonly #maxQueuedBytes: number;
  #conn: Deno.TcpConn | undefined;
  #connecting = false;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #writing = false;
  readonly #redial = new RedialBackoff(() => this.#open());
  #closed = false;

  constructor(
    transport: TcpTransport,
    peer: string,
    address: string,
    hello: Hello,
    maxQueuedBytes: number,
  ) {
    this.#transport = transport;
    this.peer = peer;
    this.address = address;
    this.#helloFrame = encodeHelloFrame(hello);
    this.#maxQueuedBytes = maxQueuedBytes;
    this.#open();
  }

  async #open(): Promise<void> {
    if (this.#closed) return;
    const target = parseHostPort(this.address);
    if (!target) return;
    this.#redial.dialling();
    this.#connecting = true;
    this.#queue = [this.#helloFrame];
    this.#queuedBytes = this.#helloFrame.byteLength;
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: target.host, port: target.port, transport: "tcp" });
    } catch {
      this.#connecting = false;
      this.#ended(undefined);
      return;
    }
    this.#connecting = false;
    if (this.#closed) {
      closeQuietly(conn);
      return;
    }
    conn.setNoDelay(true);
    this.#conn = conn;
    this.#flush();
    // The peer sends nothing on this connection: reading only sees it close.
    this.#watchClose(conn);
  }

  async #watchClose(conn: Deno.TcpConn): Promise<void> {
    const reader = new ChunkReader(conn);
    while (await reader.read() !== null) {
      // Bytes from the listening side are not part of the protocol: ignored.
    }
    this.#ended(conn);
  }

  #ended(conn: Deno.TcpConn | undefined): void {
    if (conn !== undefined) {
      if (this.#conn !== conn) return;
      this.#conn = undefined;
      closeQuietly(conn);
    }
    this.#queue = [];
    this.#queuedBytes = 0;
    if (this.#closed) return;
    this.#transport.peerGone(this.peer);
    this.#redial.redialLater();
  }

  send(message: Message): SendResult {
    if (this.#closed || (this.#conn === undefined && !this.#connecting)) return "unreachable";
    const frame = encodeMessageFrame(message);
    if (this.#queuedBytes + frame.byteLength > this.#maxQueuedBytes) return "backpressure";
    this.#queue.push(frame);
    this.#queuedBytes += frame.byteLength;
    return "sent";
  }

  /**
   * Writes what is queued (the caller's batch in one write), then whatever queued meanwhile,
   * until the queue is empty; waits for the connection when it is not up yet.
   */
  flush(): void {
    this.#flush();
  }

  async #flush(): Promise<void> {
    const conn = this.#conn;
    if (this.#writing || conn === undefined) return;
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && this.#conn === conn) {
        const batch = this.#queue;
        const bytes = batch.length === 1 ? batch[0]! : concat(batch, this.#queuedBytes);
        this.#queue = [];
        this.#queuedBytes = 0;
        await writeAll(conn, bytes);
      }
    } catch {
      this.#ended(conn);
    } finally {
      this.#writing = false;
    }
  }

  /** Stops sending and closes the connection (no `onPeerGone`). */
  close(): void {
    this.#closed = true;
    this.#redial.cancel();
    const conn = this.#conn;
    this.#conn = undefined;
    this.#queue = [];
    this.#queuedBytes = 0;
    if (conn) closeQuietly(conn);
  }
}

/**
 * Reads a connection chunk by chunk into one reused buffer. A chunk is the caller's to keep:
 * a small one is copied out, a large one takes the buffer (and a new one is made).
 */
class ChunkReader {
  readonly #conn: Deno.TcpConn;
  #buffer = new Uint8Array(READ_BYTES);

  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /** The next bytes received, or null once the connection is closed (or failed). */
  async read(): Promise<Uint8Array | null> {
    let n: number | null;
    try {
      n = await this.#conn.read(this.#buffer);
    } catch {
      return null;
    }
    if (n === null) return null;
    if (n < READ_BYTES / 4) return this.#buffer.slice(0, n);
    const chunk = this.#buffer.subarray(0, n);
    this.#buffer = new Uint8Array(READ_BYTES);
    return chunk;
  }
}

async function writeAll(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) offset += await conn.write(bytes.subarray(offset));
}

function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // Already closed.
  }
}
