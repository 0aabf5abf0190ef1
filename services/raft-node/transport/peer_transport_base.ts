/**
 * What the two peer transports (gRPC, raft_transport.ts; TCP, tcp_transport.ts) do alike:
 * the peers' addresses (configured from the membership, learned from a peer's own calls), one
 * sender per peer, made at once and replaced when the address changes, the chaos layer on the
 * way out and in, the counters, and `onPeerGone`. A transport adds its wire: how it listens,
 * how a sender connects and writes, and what else it closes.
 *
 * @module
 */
import type { RaftEnvelope } from "@trading/proto/raft";
import { parseHostPort } from "@trading/shared/config";
import { getLogger } from "@trading/shared/log";
import { backoffDelay, errorMessage } from "@trading/shared/retry";
import type { Message, MessageType } from "../core/types.ts";
import type { Chaos } from "./chaos.ts";
import { fromEnvelope } from "./envelope.ts";

/** Why a message was not sent. */
export type DropReason = "chaos" | "partition" | "unreachable" | "backpressure" | "no-address";

/** What a transport's sender answers for one message. */
export type SendResult = "sent" | "unreachable" | "backpressure";

/** Counters of the transport, read by the metrics at scrape time. */
export interface TransportCounters {
  /** Messages handed to the wire, by kind. */
  readonly sent: Map<MessageType, number>;
  /** Messages received and delivered to the core. */
  received: number;
  /** Messages not sent or not delivered, by reason. */
  readonly dropped: Map<DropReason, number>;
  /** InstallSnapshot messages received. */
  snapshotsReceived: number;
  /**
   * Peers' connections taken: `Stream` calls on node:http2 directly (not through grpc-js'
   * fallback), or TCP connections whose hello was accepted.
   */
  streamsAccepted: number;
  /** Requests received through the unary RPCs rather than the stream (gRPC only). */
  unaryReceived: number;
}

/** Counters at zero. */
export function newTransportCounters(): TransportCounters {
  return {
    sent: new Map(),
    received: 0,
    dropped: new Map(),
    snapshotsReceived: 0,
    streamsAccepted: 0,
    unaryReceived: 0,
  };
}

/** The options both peer transports take. */
export interface PeerTransportBaseOptions {
  readonly nodeId: string;
  /** `host:port` to listen on (port 0 picks one; see the transport's `port`). */
  readonly bindAddr: string;
  /** The address peers should use to reach this node. */
  readonly advertiseAddr: string;
  readonly chaos: Chaos;
  /** Called for every message addressed to this node that survived the chaos layer. */
  readonly onMessage: (message: Message) => void;
  /**
   * Called when a connection with `peer` closed: its connection to us ended or ours to it
   * did (a killed process's sockets close at once). The node loop uses it to stop waiting
   * an election timeout for a leader that is gone.
   */
  readonly onPeerGone?: (peer: string) => void;
  /**
   * `CLUSTER_SECRET`: when set, a peer must present it (gRPC: in `x-cluster-secret` of its
   * calls; TCP: in its hello) or is refused and counted, and this node's own connections
   * carry it.
   */
  readonly clusterSecret?: string | undefined;
}

/** `bindAddr` as host and port; throws when it is not `host:port`. */
export function parseBindAddr(bindAddr: string): { host: string; port: number } {
  const bind = parseHostPort(bindAddr);
  if (!bind) throw new Error(`Invalid RAFT_BIND_ADDR "${bindAddr}": expected host:port`);
  return bind;
}

/**
 * When a sender re-dials its peer after its connection closed: after a backoff from 50 ms up
 * to 500 ms, started afresh when the connection lived over a second (it was a working one).
 */
export class RedialBackoff {
  readonly #redial: () => void;
  #dialledAt = 0;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** `redial` is called when a re-dial is due. */
  constructor(redial: () => void) {
    this.#redial = redial;
  }

  /** Notes that the sender dials now. */
  dialling(): void {
    this.#timer = undefined;
    this.#dialledAt = performance.now();
  }

  /** Calls `redial` after the backoff that the last connection's life calls for. */
  redialLater(): void {
    if (performance.now() - this.#dialledAt > 1000) this.#attempt = 0;
    this.#attempt++;
    const delay = backoffDelay(this.#attempt, { initialDelayMs: 50, maxDelayMs: 500 });
    this.#timer = setTimeout(this.#redial, delay);
  }

  /** Cancels a re-dial that is waiting. */
  cancel(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }
}

/**
 * The peer bookkeeping of a transport, with one sender of type `S` per peer.
 *
 * A subclass makes a sender ({@linkcode PeerTransportBase.connect}), closes one whose peer
 * moved ({@linkcode PeerTransportBase.retireSender}) and hands a message that passed the
 * chaos layer to its sender ({@linkcode PeerTransportBase.deliverOut}).
 */
export abstract class PeerTransportBase<
  S extends { readonly address: string },
  C extends TransportCounters = TransportCounters,
> {
  readonly nodeId: string;
  readonly chaos: Chaos;
  readonly counters: C;
  protected readonly log = getLogger("raft.transport");
  readonly #onMessage: (message: Message) => void;
  readonly #onPeerGone: ((peer: string) => void) | undefined;
  #configured = new Map<string, string>();
  #learned = new Map<string, string>();
  #senders = new Map<string, S>();
  #delayed = new Set<ReturnType<typeof setTimeout>>();
  #closed = false;

  protected constructor(options: PeerTransportBaseOptions, counters: C) {
    this.nodeId = options.nodeId;
    this.chaos = options.chaos;
    this.counters = counters;
    this.#onMessage = options.onMessage;
    this.#onPeerGone = options.onPeerGone;
  }

  /** Whether {@linkcode PeerTransportBase.markClosed} was called. */
  protected get closed(): boolean {
    return this.#closed;
  }

  /** A new sender to `peer` at `address` (it may start connecting at once). */
  protected abstract connect(peer: string, address: string): S;

  /** Closes a sender whose peer has another address now. */
  protected abstract retireSender(sender: S): void;

  /** Sends a message that passed the chaos layer (now, or after its delay). */
  protected abstract deliverOut(message: Message): void;

  /** Called for a message the chaos layer dropped (after it is counted). */
  protected droppedByChaos(_message: Message): void {}

  /** Delivers a message the chaos layer delayed, when its delay is over. */
  protected deliverDelayed(message: Message): void {
    this.deliverOut(message);
  }

  /**
   * Sets the transport addresses of the members (from the membership's context) and
   * connects to each at once: a follower that must campaign should not pay for connection
   * set-up in the middle of an election. A peer whose address changed gets a new connection.
   */
  setPeers(addresses: ReadonlyMap<string, string>): void {
    for (const [id, address] of addresses) {
      if (id === this.nodeId) continue;
      this.#configured.set(id, address);
      this.#refreshSender(id);
      if (!this.#closed) this.sender(id);
    }
  }

  /** The address this transport would use for `peer`, if it knows one. */
  addressOf(peer: string): string | undefined {
    return this.#configured.get(peer) ?? this.#learned.get(peer);
  }

  /**
   * Sends messages (step 2 of a Ready), through the chaos layer. Never throws and never
   * blocks: a message that cannot go now is dropped and counted.
   */
  send(messages: readonly Message[]): void {
    for (const message of messages) this.#sendOne(message);
  }

  #sendOne(message: Message): void {
    if (this.#closed) return;
    const decision = this.chaos.judgeOutgoing(message.to);
    if (decision.action === "drop") {
      this.drop(this.chaos.isPartitionedFrom(message.to) ? "partition" : "chaos");
      this.droppedByChaos(message);
      return;
    }
    if (decision.action === "delay") {
      const timer = setTimeout(() => {
        this.#delayed.delete(timer);
        this.deliverDelayed(message);
      }, decision.delayMs);
      this.#delayed.add(timer);
      return;
    }
    this.deliverOut(message);
  }

  /** Counts a message handed to the wire. */
  protected countSent(type: MessageType): void {
    this.counters.sent.set(type, (this.counters.sent.get(type) ?? 0) + 1);
  }

  /** Counts a message not sent or not delivered. */
  protected drop(reason: DropReason): void {
    this.counters.dropped.set(reason, (this.counters.dropped.get(reason) ?? 0) + 1);
  }

  /** The sender to `peer`, made if there is none yet; undefined when its address is unknown. */
  protected sender(peer: string): S | undefined {
    const existing = this.#senders.get(peer);
    if (existing) return existing;
    const address = this.addressOf(peer);
    if (address === undefined) return undefined;
    const sender = this.connect(peer, address);
    this.#senders.set(peer, sender);
    return sender;
  }

  #refreshSender(peer: string): void {
    const sender = this.#senders.get(peer);
    if (sender && sender.address !== this.addressOf(peer)) {
      this.retireSender(sender);
      this.#senders.delete(peer);
    }
  }

  /** Remembers the address a peer gave for itself (a configured one stays first). */
  protected learnAddress(from: string, address: string): void {
    if (from === this.nodeId || this.#learned.get(from) === address) return;
    this.#learned.set(from, address);
    if (!this.#configured.has(from)) this.#refreshSender(from);
  }

  /** @internal Reports a closed connection with `peer` (see `onPeerGone`). */
  peerGone(peer: string): void {
    if (this.#closed || peer === this.nodeId) return;
    this.#onPeerGone?.(peer);
  }

  /** Delivers a received message to the core unless a partition drops it. */
  receive(message: Message): void {
    if (this.#closed) return;
    if (this.chaos.dropsIncoming(message.from)) return this.drop("partition");
    this.counters.received++;
    if (message.type === "installSnapshot") this.counters.snapshotsReceived++;
    this.#onMessage(message);
  }

  /**
   * Delivers a received envelope as {@linkcode PeerTransportBase.receive} does. One that
   * decodes but is not ours to take (another node's, an unknown kind) is logged and dropped:
   * that message only, the connection stays.
   */
  protected receiveEnvelope(envelope: RaftEnvelope): void {
    let message: Message;
    try {
      message = fromEnvelope(envelope, this.nodeId);
    } catch (error) {
      this.log.warn("dropped a raft message: {error}", { error: errorMessage(error) });
      return;
    }
    this.receive(message);
  }

  /**
   * Starts closing: from now on nothing is sent, received or reported, and delayed messages
   * are cancelled. False when the transport was closed already.
   */
  protected markClosed(): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    for (const timer of this.#delayed) clearTimeout(timer);
    this.#delayed.clear();
    return true;
  }

  /** Closes every sender with `close` and forgets them. */
  protected closeSenders(close: (sender: S) => void): void {
    for (const sender of this.#senders.values()) close(sender);
    this.#senders.clear();
  }
}
