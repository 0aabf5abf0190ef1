/**
 * The peer transport a raft-node runs (`RAFT_TRANSPORT`): gRPC over HTTP/2
 * (raft_transport.ts, `grpc`) or length-prefixed frames over TCP (tcp_transport.ts, `tcp`),
 * both on `RAFT_BIND_ADDR`. Every node of a cluster must run the same one: a node of the
 * other kind is refused at the handshake (a gRPC client's HTTP/2 preface is not a hello; a
 * hello is not HTTP/2). What the two do alike (peer addresses, senders, chaos, counters) is
 * peer_transport_base.ts.
 *
 * @module
 */
import type { Message } from "../core/types.ts";
import type { Chaos } from "./chaos.ts";
import type { PeerTransportBaseOptions, TransportCounters } from "./peer_transport_base.ts";
import { RaftTransport } from "./raft_transport.ts";
import { TcpTransport } from "./tcp_transport.ts";

/** The peer transports there are (`RAFT_TRANSPORT`). */
export const PEER_TRANSPORT_KINDS = ["grpc", "tcp"] as const;

/** Which peer transport: `grpc` or `tcp`. */
export type PeerTransportKind = typeof PEER_TRANSPORT_KINDS[number];

/** What a raft-node, its metrics and its admin API use of a peer transport. */
export interface PeerTransport {
  readonly nodeId: string;
  readonly chaos: Chaos;
  readonly counters: TransportCounters;
  /** The port it listens on (after {@linkcode PeerTransport.start}). */
  readonly port: number;
  start(): Promise<void>;
  setPeers(addresses: ReadonlyMap<string, string>): void;
  addressOf(peer: string): string | undefined;
  send(messages: readonly Message[]): void;
  close(options?: { closeChannels?: boolean }): Promise<void>;
}

/** Options of {@linkcode createPeerTransport}: the two transports' common ones. */
export interface PeerTransportOptions extends PeerTransportBaseOptions {
  /** gRPC only: one client stream per peer (default) or one unary call per message. */
  readonly stream?: boolean;
}

/** A new, unstarted peer transport of `kind`. */
export function createPeerTransport(
  kind: PeerTransportKind,
  options: PeerTransportOptions,
): PeerTransport {
  if (kind === "tcp") {
    const { stream: _stream, ...tcp } = options;
    return new TcpTransport(tcp);
  }
  return new RaftTransport(options);
}
