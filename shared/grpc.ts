/**
 * gRPC helpers on grpc-js: one way to start a server, one way to make a unary call with a
 * deadline as a promise.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { processIsExiting } from "./shutdown.ts";

export { grpc };

/** A running gRPC server. */
export interface GrpcServer {
  readonly server: grpc.Server;
  readonly port: number;
  /**
   * Stops accepting calls, waits up to `graceMs` for running ones, then cancels them. In a
   * process that is shutting down ({@linkcode processIsExiting}) it does nothing: closing
   * would send GOAWAY frames that can abort the peers (denoland/deno#36788); the process
   * exit closes the connections instead.
   */
  close(graceMs?: number): Promise<void>;
}

/** Channel and server options shared by every process: small keepalive, big messages. */
export const GRPC_OPTIONS: grpc.ChannelOptions = {
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
  "grpc.max_send_message_length": 64 * 1024 * 1024,
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 1,
  // Channelz bookkeeping costs ~3% of a grpc-js server's CPU and nothing here reads it.
  "grpc.enable_channelz": 0,
};

/**
 * Creates a server, lets `register` add services, and binds it to `hostname:port`
 * (port 0 picks a free port). Returns the bound port.
 */
export async function startGrpcServer(
  port: number,
  register: (server: grpc.Server) => void,
  { hostname = "127.0.0.1" }: { hostname?: string } = {},
): Promise<GrpcServer> {
  const server = new grpc.Server(GRPC_OPTIONS);
  register(server);
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${hostname}:${port}`,
      grpc.ServerCredentials.createInsecure(),
      (error, actual) => error ? reject(error) : resolve(actual),
    );
  });
  return {
    server,
    port: bound,
    close(graceMs = 2000) {
      if (processIsExiting()) return Promise.resolve();
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
 * Closes a client's channel, unless this process is shutting down: then the channel is left
 * for the process exit to close, because a graceful close sends a GOAWAY that can abort the
 * server process under Deno 2.9 (denoland/deno#36788).
 */
export function closeClient(client: grpc.Client): void {
  if (!processIsExiting()) client.close();
}

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
