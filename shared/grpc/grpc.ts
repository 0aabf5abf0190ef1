/**
 * gRPC helpers on grpc-js: one way to start a server, one way to make a unary call with a
 * deadline as a promise.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import net from "node:net";
import {
  CLUSTER_SECRET_METADATA,
  clusterSecretMatches,
  processClusterSecret,
} from "./cluster_secret.ts";
import { getLogger } from "../runtime/log.ts";
import { counter } from "../runtime/metrics.ts";
import { processIsExiting } from "../runtime/shutdown.ts";
import {
  capConnections,
  closeWhenSilent,
  type GrpcLimits,
  loadConnectionLimits,
} from "../net/connection_limits.ts";

export { grpc };

/**
 * The one switch of the workaround for denoland/deno#36788: Deno 2.9's node:http2 can abort
 * (nghttp2 assertion in `find_stream_on_goaway_func`) or crash a process whose session
 * receives a GOAWAY after it carried many calls, and a graceful close of a client channel or
 * a server sends one. While this is true:
 * - a process on its way out ({@linkcode processIsExiting}) closes neither its servers
 *   ({@linkcode GrpcServer.close}) nor its channels ({@linkcode closeClient}): the exit
 *   closes the sockets, which its peers see as a plain TCP close and reconnect;
 * - a channel that may have carried many calls to a peer that may still run is released with
 *   {@linkcode releaseClient} (left open) instead of closed, and such channels have no idle
 *   timeout ({@linkcode LONG_LIVED_CHANNEL_OPTIONS});
 * - a raft node leaves its transport's unary channels and server to its exit
 *   (services/raft-node/transport/raft_transport.ts; its streams are closed by destroying
 *   the socket either way), and the Raft test cluster closes its clients before a graceful
 *   stop of the nodes and after a kill (testing/raft_cluster.ts).
 *
 * Because of it, some callers are processes of their own, so that a GOAWAY can only end a
 * short-lived helper: supervisor/control/raft_call.ts, supervisor/dashboard/dashboard_raft_poller.ts and
 * chaos/raft_probe_process.ts. When Deno fixes the bug, set this to false, run the tests,
 * then delete it, what it guards and those notes in one commit.
 */
export const DENO_GOAWAY_WORKAROUND: boolean = true;

/** A running gRPC server. */
export interface GrpcServer {
  readonly server: grpc.Server;
  readonly port: number;
  /** Connections held now. */
  openConnections(): number;
  /**
   * Stops accepting calls, waits up to `graceMs` for running ones, then cancels them. In a
   * process that is shutting down ({@linkcode processIsExiting}) it does nothing while
   * {@linkcode DENO_GOAWAY_WORKAROUND} is on: the process exit closes the connections.
   */
  close(graceMs?: number): Promise<void>;
}

/** A client interceptor that puts `secret()` (when defined) into every call's metadata. */
function sendClusterSecret(secret: () => string | undefined): grpc.Interceptor {
  return (options, nextCall) => {
    const value = secret();
    if (value === undefined) return nextCall(options) as grpc.InterceptingCall;
    return new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set(CLUSTER_SECRET_METADATA, value);
        next(metadata, listener);
      },
    });
  };
}

/**
 * Channel and client options shared by every process: small keepalive, big messages, and
 * this process's cluster secret ({@linkcode processClusterSecret}, read at the first call,
 * so that importing this module never reads the environment) sent with every call.
 */
export const GRPC_OPTIONS: grpc.ClientOptions = {
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
  "grpc.max_send_message_length": 64 * 1024 * 1024,
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 1,
  // Channelz bookkeeping costs ~3% of a grpc-js server's CPU and nothing here reads it.
  "grpc.enable_channelz": 0,
  interceptors: [sendClusterSecret(processClusterSecret)],
};

/**
 * `options` (default {@linkcode GRPC_OPTIONS}) with `secret` sent instead of this process's
 * own: for a client of a cluster whose secret is not in this process's environment (a test
 * harness that started the cluster).
 */
export function withClusterSecret(
  secret: string,
  options: grpc.ClientOptions = GRPC_OPTIONS,
): grpc.ClientOptions {
  return { ...options, interceptors: [sendClusterSecret(() => secret)] };
}

/** The methods every caller may use without the cluster secret: health checks only. */
const OPEN_METHODS: ReadonlySet<string> = new Set([
  "/grpc.health.v1.Health/Check",
  "/grpc.health.v1.Health/Watch",
]);

const log = getLogger(["grpc", "auth"]);
const REFUSAL_LOG_INTERVAL_MS = 10_000;
let lastRefusalLog = -Infinity;
let unloggedRefusals = 0;

/**
 * Checks the cluster secret a call presented (the `x-cluster-secret` metadata value, or
 * undefined). Returns undefined when the call may go on, else the details of the
 * UNAUTHENTICATED status to answer; a refusal is counted (`grpc_calls_refused_total`) and
 * logged now and then, not per call, so that a flood of calls cannot flood the log.
 */
export function checkClusterSecret(
  secret: string,
  method: string,
  presented: unknown,
  peer: string,
): string | undefined {
  if (clusterSecretMatches(secret, presented)) return undefined;
  const reason = presented === undefined ? "missing" : "wrong";
  counter(
    "grpc_calls_refused_total",
    "gRPC calls refused for a missing or wrong cluster secret",
    ["method", "reason"],
  ).inc({ method, reason });
  unloggedRefusals++;
  const now = performance.now();
  if (now - lastRefusalLog >= REFUSAL_LOG_INTERVAL_MS) {
    log.warn(
      "Refused {count} gRPC call(s) without the cluster secret, the last {method} from {peer}",
      { count: unloggedRefusals, method, peer, reason },
    );
    lastRefusalLog = now;
    unloggedRefusals = 0;
  }
  return `Call to ${method} refused: expected this cluster's CLUSTER_SECRET in metadata ${CLUSTER_SECRET_METADATA}`;
}

/**
 * A server interceptor that refuses, with UNAUTHENTICATED, every call but a health check
 * whose metadata does not carry `secret` under `x-cluster-secret`.
 */
export function requireClusterSecret(secret: string): grpc.ServerInterceptor {
  return (method, call) => {
    if (OPEN_METHODS.has(method.path)) return new grpc.ServerInterceptingCall(call);
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            const presented = metadata.get(CLUSTER_SECRET_METADATA)[0];
            const refusal = checkClusterSecret(secret, method.path, presented, call.getPeer());
            if (refusal === undefined) nextMetadata(metadata);
            else call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: refusal });
          },
        });
      },
    });
  };
}

/**
 * Calls one connection may run at once on a server of ours (HTTP/2 SETTINGS
 * MAX_CONCURRENT_STREAMS, grpc-js `grpc.max_concurrent_streams`; unlimited by default): a
 * client beyond it waits for a stream (grpc-js queues the call), so one connection cannot
 * make a server run an unbounded number of handlers. 1000 is above the Raft transport's
 * 256 unary calls in flight per peer plus its streams, and any client of ours.
 */
export const GRPC_MAX_CONCURRENT_STREAMS = 1000;

/** Options of {@linkcode startGrpcServer}. */
export interface GrpcServerOptions {
  /** Address to bind. Default 127.0.0.1. */
  hostname?: string;
  /** When set, every call but a health check must present it ({@linkcode requireClusterSecret}). */
  clusterSecret?: string | undefined;
  /** Calls one connection may run at once. Default {@linkcode GRPC_MAX_CONCURRENT_STREAMS}. */
  maxConcurrentStreams?: number;
  /** Connection cap and timeouts; default from the environment (`GRPC_*`). */
  limits?: GrpcLimits;
  /**
   * The server's name in logs and the `net_*` metrics (their `server` label). Default `grpc`;
   * a process with two gRPC servers must name them apart (the Raft transport's is
   * `raft-transport`), or they would share one `net_connections_open` series.
   */
  name?: string;
}

/** The HTTP/2 client connection preface (RFC 9113, 3.4) is 24 bytes. */
const HTTP2_PREFACE_BYTES = 24;

/**
 * Creates a server, lets `register` add services, and binds it to `hostname:port`
 * (port 0 picks a free port). Returns the bound port.
 *
 * The listening socket is ours (node:net), not grpc-js's: grpc-js has no cap on connections
 * and no idle timeout that does not end in a GOAWAY (DENO_GOAWAY_WORKAROUND). Each accepted
 * connection is counted against `limits.maxConnections`, closed when silent
 * (`limits.idleTimeoutMs`) or when its HTTP/2 preface is late (`limits.handshakeTimeoutMs`),
 * and handed to grpc-js through its connection injector.
 */
export async function startGrpcServer(
  port: number,
  register: (server: grpc.Server) => void,
  {
    hostname = "127.0.0.1",
    clusterSecret,
    maxConcurrentStreams = GRPC_MAX_CONCURRENT_STREAMS,
    limits = loadConnectionLimits().grpc,
    name = "grpc",
  }: GrpcServerOptions = {},
): Promise<GrpcServer> {
  const { interceptors: _client, ...channelOptions } = GRPC_OPTIONS;
  const server = new grpc.Server({
    ...channelOptions,
    "grpc.max_concurrent_streams": maxConcurrentStreams,
    ...(clusterSecret === undefined ? {} : { interceptors: [requireClusterSecret(clusterSecret)] }),
  });
  register(server);
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const listener = net.createServer((socket) => {
    if (socket.destroyed) return; // over the cap (capConnections)
    socket.setNoDelay(true);
    closeWhenSilent(socket, {
      idleTimeoutMs: limits.idleTimeoutMs,
      handshakeTimeoutMs: limits.handshakeTimeoutMs,
      handshakeBytes: HTTP2_PREFACE_BYTES,
      name,
    });
    injector.injectConnection(socket);
  });
  const held = capConnections(listener, { max: limits.maxConnections, name });
  const bound = await new Promise<number>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(port, hostname, () => {
      listener.off("error", reject);
      resolve((listener.address() as net.AddressInfo).port);
    });
  });
  listener.on("error", (error) => {
    log.warn("{server}: accepting a connection failed: {error}", {
      server: name,
      error: error.message,
    });
  });
  return {
    server,
    port: bound,
    openConnections: held.open,
    close(graceMs = 2000) {
      if (DENO_GOAWAY_WORKAROUND && processIsExiting()) return Promise.resolve();
      listener.close();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

/**
 * Closes a client's channel, unless this process is shutting down while
 * {@linkcode DENO_GOAWAY_WORKAROUND} is on: then the channel is left for the process exit to
 * close.
 */
export function closeClient(client: grpc.Client): void {
  if (!(DENO_GOAWAY_WORKAROUND && processIsExiting())) client.close();
}

/**
 * Done with a channel that may have carried many calls to a peer that may still run: closes
 * it, or leaves it for the process exit while {@linkcode DENO_GOAWAY_WORKAROUND} is on.
 */
export function releaseClient(client: grpc.Client): void {
  if (!DENO_GOAWAY_WORKAROUND) client.close();
}

/**
 * Channel options for a channel kept for the life of its process: no idle timeout (grpc-js
 * closes a channel, gracefully, after 30 idle minutes by default) while
 * {@linkcode DENO_GOAWAY_WORKAROUND} is on, because a channel to a former Raft leader is
 * exactly an idle channel that carried many calls.
 */
export const LONG_LIVED_CHANNEL_OPTIONS: grpc.ClientOptions = DENO_GOAWAY_WORKAROUND
  ? { "grpc.client_idle_timeout_ms": 2_147_483_647 }
  : {};

/** Creates an insecure channel credential pair for loopback clients. */
export function insecure(): grpc.ChannelCredentials {
  return grpc.credentials.createInsecure();
}

/** The shape of a generated unary client method (ts-proto, grpc-js). */
type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (error: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

/**
 * Calls a unary method with a deadline and returns the response as a promise. Rejects with
 * the grpc-js `ServiceError` (check `.code` against `grpc.status`).
 *
 * @example
 * ```ts
 * const status = await unary(client, client.status, {}, { deadlineMs: 1000 });
 * ```
 */
export function unary<C extends grpc.Client, Req, Res>(
  client: C,
  method: UnaryMethod<Req, Res>,
  request: Req,
  { deadlineMs = 5000, signal }: { deadlineMs?: number; signal?: AbortSignal } = {},
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    const onAbort = () => call.cancel();
    const call = method.call(
      client,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
      (error, response) => {
        // A long-lived signal must not collect one listener per call.
        signal?.removeEventListener("abort", onAbort);
        if (error) reject(error);
        else resolve(response);
      },
    );
    if (signal) {
      if (signal.aborted) call.cancel();
      else signal.addEventListener("abort", onAbort, { once: true });
    }
  });
}

/** True when `error` is a gRPC error with one of the given status codes. */
export function isGrpcStatus(error: unknown, ...codes: grpc.status[]): boolean {
  return typeof error === "object" && error !== null && "code" in error &&
    codes.includes((error as { code: grpc.status }).code);
}
