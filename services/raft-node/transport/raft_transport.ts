/**
 * The gRPC transport between raft-nodes (raft.proto, service `RaftTransport`), with the chaos
 * layer in its send and receive paths.
 *
 * Sending: one long-lived client-streaming `Stream` call per peer carries every message
 * one-way, in order; responses come back on the peer's own stream to us. A broken stream is
 * reopened with backoff; messages for a peer that is down are dropped (Raft retransmits).
 * With `stream: false` requests go as unary calls (AppendEntries, RequestVote,
 * InstallSnapshot, TimeoutNow) and their responses come back as the call's result.
 *
 * Receiving: the server accepts both. A unary request waits for the core's response to the
 * caller and returns it as the call's result instead of sending it on a stream.
 *
 * Every call carries the sender's id and transport address in its metadata, so that a node
 * that has just joined (and has no membership yet) can answer its leader.
 *
 * The `Stream` call, which carries all the traffic, is gRPC on node:http2 directly at both
 * ends (same wire format; ../http2/): grpc-js' client and server stacks cost more CPU and
 * latency per message under Deno than the Raft work itself. Its connections are closed by
 * destroying the socket, never with GOAWAY (shared/grpc/grpc.ts `DENO_GOAWAY_WORKAROUND`).
 * The unary calls, a compatibility mode, stay on grpc-js.
 *
 * With `CLUSTER_SECRET` (option `clusterSecret`), both paths refuse a peer that does not
 * present it: the `Stream` route before it reads or learns anything of the call, the unary
 * calls through grpc-js' interceptor; both count the refusal in `grpc_calls_refused_total`.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import http2 from "node:http2";
import net from "node:net";
import {
  type AppendEntriesRequest as ProtoAppendEntriesRequest,
  type AppendEntriesResponse as ProtoAppendEntriesResponse,
  type InstallSnapshotRequest as ProtoInstallSnapshotRequest,
  type InstallSnapshotResponse as ProtoInstallSnapshotResponse,
  RaftEnvelope,
  RaftTransportClient,
  type RaftTransportServer,
  RaftTransportService,
  type RequestVoteRequest as ProtoRequestVoteRequest,
  type RequestVoteResponse as ProtoRequestVoteResponse,
  StreamAck,
  type TimeoutNowRequest as ProtoTimeoutNowRequest,
  type TimeoutNowResponse,
} from "@trading/proto/raft";
import {
  checkClusterSecret,
  DENO_GOAWAY_WORKAROUND,
  type GrpcServer,
  insecure,
  startGrpcServer,
  withClusterSecret,
} from "@trading/shared/grpc";
import { CLUSTER_SECRET_METADATA } from "@trading/shared/cluster-secret";
import { RAFT_CHANNEL_OPTIONS } from "@trading/shared/raft-client";
import { parseHostPort } from "@trading/shared/config";
import { errorMessage } from "@trading/shared/retry";
import type { Message, MessageType } from "../core/types.ts";
import { fromProto, toEnvelope, toProto } from "./envelope.ts";
import { encodeGrpcFrame, failGrpc, GrpcFrameDecoder, respondGrpc } from "../http2/grpc_wire.ts";
import { routeHttp2Stream } from "../http2/http2_stream_routes.ts";
import {
  newTransportCounters,
  parseBindAddr,
  PeerTransportBase,
  type PeerTransportBaseOptions,
  RedialBackoff,
  type SendResult,
} from "./peer_transport_base.ts";

/** Metadata key of the sender's node id. */
export const FROM_METADATA = "raft-from";
/** Metadata key of the sender's advertised transport address. */
export const ADDR_METADATA = "raft-addr";

/** Most bytes queued on one peer's stream before new messages are dropped (a stalled peer). */
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;
/** The largest message accepted on a stream, as GRPC_OPTIONS' receive limit. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** The HTTP/2 path of the `Stream` call. */
const STREAM_PATH = RaftTransportService.stream.path;
/** HTTP/2 flow-control window of the stream connections: a 5 MiB snapshot needs no round trips. */
const WINDOW_BYTES = 16 * 1024 * 1024;
const STREAM_ACK = StreamAck.encode({}).finish();
/** Most unary calls in flight to one peer before new ones are dropped. */
const MAX_UNARY_IN_FLIGHT = 256;
/** How long a unary request waits for the core's response. */
const UNARY_RESPONSE_TIMEOUT_MS = 2000;

/** The response kind that answers each request kind on the unary path. */
const RESPONSE_OF: Partial<Record<MessageType, MessageType>> = {
  appendEntries: "appendEntriesResponse",
  requestVote: "requestVoteResponse",
  installSnapshot: "installSnapshotResponse",
};

/**
 * Options of {@linkcode RaftTransport}. `clusterSecret`: a peer's `Stream` and unary calls
 * must carry it in `x-cluster-secret` (refused UNAUTHENTICATED and counted in
 * `grpc_calls_refused_total` otherwise).
 */
export interface RaftTransportOptions extends PeerTransportBaseOptions {
  /** Send over one stream per peer (default) or one unary call per message. */
  readonly stream?: boolean;
}

interface Waiter {
  resolve(message: Message): void;
  reject(error: Partial<grpc.StatusObject>): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * The transport of one node: a gRPC server for peers and one sender per peer.
 *
 * @example
 * ```ts
 * const transport = new RaftTransport({ nodeId: "a", bindAddr, advertiseAddr: bindAddr, chaos, onMessage });
 * await transport.start();
 * transport.setPeers(new Map([["b", "127.0.0.1:7001"]]));
 * transport.send(ready.messages);
 * ```
 */
export class RaftTransport extends PeerTransportBase<PeerSender> {
  #options: RaftTransportOptions;
  #server: GrpcServer | undefined;
  #waiters = new Map<string, Waiter[]>();
  #inbound = new Set<grpc.ServerReadableStream<RaftEnvelope, StreamAck>>();
  /** `Stream` calls received on node:http2 directly (all of them, but for a fallback). */
  #inboundStreams = new Set<http2.ServerHttp2Stream>();
  #unroute: (() => void) | undefined;

  constructor(options: RaftTransportOptions) {
    super(options, newTransportCounters());
    this.#options = options;
  }

  /** The port the server listens on (after {@linkcode start}). */
  get port(): number {
    if (!this.#server) throw new Error("RaftTransport is not started: expected start() first");
    return this.#server.port;
  }

  /** Starts the gRPC server on `bindAddr`. */
  async start(): Promise<void> {
    const bind = parseBindAddr(this.#options.bindAddr);
    this.#server = await startGrpcServer(bind.port, (server) => {
      server.addService(RaftTransportService, this.#implementation());
    }, { hostname: bind.host, clusterSecret: this.#options.clusterSecret, name: "raft-transport" });
    // Streams reach #acceptStream from the first connection on (nothing is accepted before
    // this turn of the event loop ends); grpc-js' own handler below is only a fallback.
    this.#unroute = routeHttp2Stream(
      STREAM_PATH,
      (stream, headers) => this.#acceptStream(stream, headers),
      this.#server.port,
    );
  }

  /** Takes a `Stream` call: every gRPC message of it is one envelope for the core. */
  #acceptStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): boolean {
    if (this.closed) return false;
    const secret = this.#options.clusterSecret;
    if (secret !== undefined) {
      const refusal = checkClusterSecret(
        secret,
        STREAM_PATH,
        headers[CLUSTER_SECRET_METADATA],
        `${stream.session?.socket?.remoteAddress}:${stream.session?.socket?.remotePort}`,
      );
      if (refusal !== undefined) {
        // Before anything of the stream is read or learned (its sender id and address).
        stream.on("error", () => {});
        failGrpc(stream, grpc.status.UNAUTHENTICATED, refusal);
        return true;
      }
    }
    this.counters.streamsAccepted++;
    this.#learnFrom(headers[FROM_METADATA], headers[ADDR_METADATA]);
    this.#inboundStreams.add(stream);
    const decoder = new GrpcFrameDecoder(MAX_MESSAGE_BYTES);
    stream.on("data", (chunk: Buffer) => {
      let messages: Uint8Array[];
      try {
        messages = decoder.push(chunk);
      } catch (error) {
        this.log.warn("closing a raft stream: {error}", { error: errorMessage(error) });
        stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
        return;
      }
      for (const bytes of messages) {
        let envelope: RaftEnvelope;
        try {
          envelope = RaftEnvelope.decode(bytes);
        } catch (error) {
          this.log.warn("dropped a raft message: {error}", { error: errorMessage(error) });
          continue;
        }
        this.receiveEnvelope(envelope);
      }
    });
    stream.on("end", () => respondGrpc(stream, STREAM_ACK));
    stream.on("error", () => {});
    stream.on("close", () => {
      this.#inboundStreams.delete(stream);
      const from = headers[FROM_METADATA];
      if (typeof from === "string") this.peerGone(from);
    });
    return true;
  }

  /** Fails the unary call waiting for a response the chaos layer dropped. */
  protected override droppedByChaos(message: Message): void {
    this.#failWaiter(message, "dropped by chaos");
  }

  protected deliverOut(message: Message): void {
    if (this.closed) return;
    const waiters = this.#waiters.get(waiterKey(message.to, message.type));
    const waiter = waiters?.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      this.countSent(message.type);
      waiter.resolve(message);
      return;
    }
    const sender = this.sender(message.to);
    if (!sender) return this.drop("no-address");
    // Responses always travel on the stream (or answer a unary call, above).
    const unary = this.#options.stream === false &&
      (RESPONSE_OF[message.type] !== undefined || message.type === "timeoutNow");
    const result = unary ? sender.sendUnary(message) : sender.sendStream(message);
    if (result === "sent") this.countSent(message.type);
    else this.drop(result);
  }

  #failWaiter(message: Message, reason: string): void {
    const waiter = this.#waiters.get(waiterKey(message.to, message.type))?.shift();
    if (!waiter) return;
    clearTimeout(waiter.timer);
    waiter.reject({ code: grpc.status.UNAVAILABLE, details: `Raft response ${reason}` });
  }

  protected connect(peer: string, address: string): PeerSender {
    return new PeerSender(
      this,
      peer,
      address,
      this.#options.advertiseAddr,
      this.#options.clusterSecret,
    );
  }

  protected retireSender(sender: PeerSender): void {
    // Abandoned, not closed, while the GOAWAY workaround is on: a GOAWAY could abort a node
    // still at the old address; without calls the channel stays idle.
    sender.close(!DENO_GOAWAY_WORKAROUND);
  }

  #learn(metadata: grpc.Metadata): void {
    this.#learnFrom(metadata.get(FROM_METADATA)[0], metadata.get(ADDR_METADATA)[0]);
  }

  /** Learns the address a peer's call or stream gave for its sender, if it gave both. */
  #learnFrom(from: unknown, address: unknown): void {
    if (typeof from === "string" && typeof address === "string") this.learnAddress(from, address);
  }

  /** Handles a unary request: delivers it and answers with the core's response. */
  #unary<Req, Res>(
    type: MessageType,
    call: grpc.ServerUnaryCall<Req, Res>,
    callback: grpc.sendUnaryData<Res>,
  ): void {
    this.#learn(call.metadata);
    this.counters.unaryReceived++;
    let message: Message;
    try {
      message = fromProto(type, call.request, this.nodeId);
    } catch (error) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: errorMessage(error) });
      return;
    }
    const responseType = RESPONSE_OF[type];
    if (responseType === undefined) {
      // TimeoutNow has no response message in the core: acknowledge at once.
      this.receive(message);
      callback(null, {} as Res);
      return;
    }
    if (this.chaos.isPartitionedFrom(message.from)) {
      this.drop("partition");
      callback({ code: grpc.status.UNAVAILABLE, details: "Raft request dropped by a partition" });
      return;
    }
    const key = waiterKey(message.from, responseType);
    const queue = this.#waiters.get(key) ?? [];
    this.#waiters.set(key, queue);
    const waiter: Waiter = {
      resolve: (response) => callback(null, toProto<Res>(response)),
      reject: (error) => callback(error),
      timer: setTimeout(() => {
        const i = queue.indexOf(waiter);
        if (i >= 0) queue.splice(i, 1);
        callback({
          code: grpc.status.DEADLINE_EXCEEDED,
          details: `No ${responseType} from the raft core within ${UNARY_RESPONSE_TIMEOUT_MS} ms`,
        });
      }, UNARY_RESPONSE_TIMEOUT_MS),
    };
    queue.push(waiter);
    this.receive(message);
  }

  #implementation(): RaftTransportServer {
    return {
      appendEntries: (
        call: grpc.ServerUnaryCall<ProtoAppendEntriesRequest, ProtoAppendEntriesResponse>,
        callback: grpc.sendUnaryData<ProtoAppendEntriesResponse>,
      ) => this.#unary("appendEntries", call, callback),
      requestVote: (
        call: grpc.ServerUnaryCall<ProtoRequestVoteRequest, ProtoRequestVoteResponse>,
        callback: grpc.sendUnaryData<ProtoRequestVoteResponse>,
      ) => this.#unary("requestVote", call, callback),
      installSnapshot: (
        call: grpc.ServerUnaryCall<ProtoInstallSnapshotRequest, ProtoInstallSnapshotResponse>,
        callback: grpc.sendUnaryData<ProtoInstallSnapshotResponse>,
      ) => this.#unary("installSnapshot", call, callback),
      timeoutNow: (
        call: grpc.ServerUnaryCall<ProtoTimeoutNowRequest, TimeoutNowResponse>,
        callback: grpc.sendUnaryData<TimeoutNowResponse>,
      ) => this.#unary("timeoutNow", call, callback),
      // Only reached if a stream missed the route to #acceptStream (see start()).
      stream: (call, callback) => {
        this.#learn(call.metadata);
        this.#inbound.add(call);
        let ended = false;
        const finish = () => {
          if (ended) return;
          ended = true;
          this.#inbound.delete(call);
          callback(null, {});
        };
        call.on("data", (envelope: RaftEnvelope) => this.receiveEnvelope(envelope));
        call.on("end", finish);
        call.on("error", () => {
          ended = true;
          this.#inbound.delete(call);
        });
      },
    };
  }

  /** @internal Called by a sender when a unary response arrives. */
  deliverResponse(type: MessageType, payload: unknown): void {
    let message: Message;
    try {
      message = fromProto(type, payload, this.nodeId);
    } catch (error) {
      this.log.warn("dropped a raft response: {error}", { error: errorMessage(error) });
      return;
    }
    this.receive(message);
  }

  /**
   * Stops every sender, cancels delayed messages and unary waiters, and stops the server.
   *
   * `closeChannels: false` leaves the unary mode's gRPC channels and the server's
   * connections for the process exit to close (what a node shutting down does while
   * shared/grpc/grpc.ts `DENO_GOAWAY_WORKAROUND` is on): a graceful close sends GOAWAY, which can
   * abort the receiving node (seen when one node of a cluster stopped). Tests that close
   * transports inside one process close them. The streams' own connections are always
   * closed by destroying their sockets, which sends no GOAWAY.
   */
  async close({ closeChannels = true }: { closeChannels?: boolean } = {}): Promise<void> {
    if (!this.markClosed()) return;
    for (const queue of this.#waiters.values()) {
      for (const waiter of queue) {
        clearTimeout(waiter.timer);
        waiter.reject({ code: grpc.status.UNAVAILABLE, details: "Raft transport closed" });
      }
    }
    this.#waiters.clear();
    this.closeSenders((sender) => sender.close(closeChannels));
    for (const call of this.#inbound) call.destroy();
    this.#inbound.clear();
    this.#unroute?.();
    for (const stream of this.#inboundStreams) stream.close(http2.constants.NGHTTP2_CANCEL);
    this.#inboundStreams.clear();
    if (closeChannels) await this.#server?.close(200);
  }
}

function waiterKey(peer: string, type: MessageType): string {
  return `${peer}\u0000${type}`;
}

/**
 * The connection to one peer: the `Stream` call on a connection of its own (reopened with
 * backoff), and a grpc-js client for the unary mode, made when first needed.
 */
class PeerSender {
  readonly peer: string;
  readonly address: string;
  #transport: RaftTransport;
  #selfAddr: string;
  #client: RaftTransportClient | undefined;
  #metadata: grpc.Metadata | undefined;
  #socket: net.Socket | undefined;
  #stream: http2.ClientHttp2Stream | undefined;
  readonly #redial = new RedialBackoff(() => this.#open());
  #unaryInFlight = 0;
  #closed = false;
  #clusterSecret: string | undefined;

  constructor(
    transport: RaftTransport,
    peer: string,
    address: string,
    selfAddr: string,
    clusterSecret: string | undefined,
  ) {
    this.#transport = transport;
    this.peer = peer;
    this.address = address;
    this.#selfAddr = selfAddr;
    this.#clusterSecret = clusterSecret;
    this.#open();
  }

  #open(): void {
    if (this.#closed) return;
    this.#redial.dialling();
    const target = parseHostPort(this.address);
    if (!target) return;
    // Our own socket, so that closing never sends GOAWAY (see the module doc).
    const socket = net.connect({ host: target.host, port: target.port });
    socket.setNoDelay(true);
    const session = http2.connect(`http://${this.address}`, {
      createConnection: () => socket,
      settings: { initialWindowSize: WINDOW_BYTES },
    });
    const stream = session.request({
      ":method": "POST",
      ":path": STREAM_PATH,
      "content-type": "application/grpc",
      te: "trailers",
      [FROM_METADATA]: this.#transport.nodeId,
      [ADDR_METADATA]: this.#selfAddr,
      ...(this.#clusterSecret === undefined
        ? {}
        : { [CLUSTER_SECRET_METADATA]: this.#clusterSecret }),
    });
    const ended = () => this.#onStreamEnd(stream, socket);
    socket.on("error", () => {});
    socket.on("close", ended);
    session.on("error", () => {});
    session.on("close", ended);
    stream.on("error", () => {});
    stream.on("close", ended);
    // The answer (a StreamAck, once we end the call) carries nothing we need.
    stream.resume();
    this.#socket = socket;
    this.#stream = stream;
  }

  #onStreamEnd(stream: http2.ClientHttp2Stream, socket: net.Socket): void {
    if (this.#stream !== stream) return;
    this.#stream = undefined;
    this.#socket = undefined;
    socket.destroy();
    if (this.#closed) return;
    this.#transport.peerGone(this.peer);
    this.#redial.redialLater();
  }

  sendStream(message: Message): SendResult {
    const stream = this.#stream;
    if (!stream || stream.destroyed || stream.writableEnded) return "unreachable";
    if (stream.writableLength >= MAX_QUEUED_BYTES) return "backpressure";
    stream.write(encodeGrpcFrame(toEnvelope(message), RaftEnvelope.encode));
    return "sent";
  }

  sendUnary(message: Message): SendResult {
    if (this.#unaryInFlight >= MAX_UNARY_IN_FLIGHT) return "backpressure";
    const responseType = RESPONSE_OF[message.type];
    const options = { deadline: Date.now() + UNARY_RESPONSE_TIMEOUT_MS + 500 };
    const done = (error: grpc.ServiceError | null, response: unknown) => {
      this.#unaryInFlight--;
      if (error || this.#closed || responseType === undefined) return;
      this.#transport.deliverResponse(responseType, response);
    };
    if (this.#client === undefined || this.#metadata === undefined) {
      this.#client = new RaftTransportClient(
        this.address,
        insecure(),
        this.#clusterSecret === undefined
          ? RAFT_CHANNEL_OPTIONS
          : withClusterSecret(this.#clusterSecret, RAFT_CHANNEL_OPTIONS),
      );
      this.#metadata = new grpc.Metadata();
      this.#metadata.set(FROM_METADATA, this.#transport.nodeId);
      this.#metadata.set(ADDR_METADATA, this.#selfAddr);
    }
    this.#unaryInFlight++;
    const c = this.#client;
    const m = this.#metadata;
    switch (message.type) {
      case "appendEntries":
        c.appendEntries(toProto(message), m, options, done);
        break;
      case "requestVote":
        c.requestVote(toProto(message), m, options, done);
        break;
      case "installSnapshot":
        c.installSnapshot(toProto(message), m, options, done);
        break;
      case "timeoutNow":
        c.timeoutNow(toProto(message), m, options, done);
        break;
      default:
        this.#unaryInFlight--;
        return this.sendStream(message);
    }
    return "sent";
  }

  /**
   * Stops sending: the stream's socket is destroyed (no GOAWAY); `closeChannel` closes the
   * unary mode's gRPC channel too (see RaftTransport.close).
   */
  close(closeChannel: boolean): void {
    this.#closed = true;
    this.#redial.cancel();
    const socket = this.#socket;
    this.#stream = undefined;
    this.#socket = undefined;
    socket?.destroy();
    if (closeChannel) this.#client?.close();
  }
}
