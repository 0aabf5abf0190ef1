/**
 * Serves chosen unary gRPC methods straight on node:http2 streams, ahead of grpc-js, on the
 * same server and port (the wire protocol is the same gRPC over HTTP/2; clients see no
 * difference).
 *
 * Why: under Deno, grpc-js' server side costs about as much CPU per call as all of the Raft
 * work of an Apply (interceptor chain, metadata objects, a deadline timer, channelz counters,
 * stream decoder, several event hops). An Apply that answers at once, with a Node.js grpc-js
 * client and 64 calls in flight, measured 70-84 us of server CPU per call through grpc-js
 * and 38-45 us through this path; one call at a time, 0.31 ms round trip against 0.21 ms.
 *
 * What it does per call: collect the request's DATA, check the 5-byte gRPC frame, decode,
 * run the handler, and answer HEADERS (`:status 200`, `content-type`), one DATA frame and the
 * trailers (`grpc-status`), or a trailers-only error. What it leaves out: server-side
 * deadlines (the client's deadline still applies; the handler has its own bound), compressed
 * messages (a request announcing `grpc-encoding` other than identity goes to grpc-js), and
 * grpc-js' call tracking (graceful shutdown does not wait for these calls; a client sees an
 * interrupted call as UNAVAILABLE, whose outcome it resolves by Read as for any other).
 *
 * @module
 */
import type http2 from "node:http2";
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import { errorMessage } from "@trading/shared/retry";
import { CLUSTER_SECRET_METADATA } from "@trading/shared/cluster-secret";
import { checkClusterSecret } from "@trading/shared/grpc";
import { failGrpc, respondGrpc } from "./grpc_wire.ts";
import { installHttp2StreamRoutes, routeHttp2Stream } from "./http2_stream_routes.ts";

export { installHttp2StreamRoutes };

/** One unary method served by the fast path. */
export interface UnaryFastPathMethod<Req, Res> {
  /** The HTTP/2 path, `/<package>.<Service>/<Method>`. */
  readonly path: string;
  /** Decodes a request message (throws on malformed bytes). */
  decode(bytes: Uint8Array): Req;
  /** Encodes a response message. */
  encode(response: Res): Uint8Array;
  /**
   * Answers a request. A rejection with a `{ code, details }` status (grpc-js'
   * `Partial<StatusObject>`) is sent as that gRPC status; anything else as INTERNAL.
   */
  handle(request: Req): Promise<Res>;
  /**
   * When set, a call whose `x-cluster-secret` header is not this secret is answered
   * UNAUTHENTICATED before its body is read, as grpc-js' `requireClusterSecret` does.
   */
  readonly clusterSecret?: string | undefined;
}

/** The most request bytes accepted, as GRPC_OPTIONS' `grpc.max_receive_message_length`. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * Serves `method` on the fast path on every gRPC server of this process created after
 * {@linkcode installHttp2StreamRoutes} (call that before the server exists). Requests the
 * fast path does not take (see the module doc) reach grpc-js as before. Returns the function
 * that removes the route.
 */
export function serveUnaryFastPath<Req, Res>(method: UnaryFastPathMethod<Req, Res>): () => void {
  return routeHttp2Stream(method.path, (stream, headers) => {
    if (!takes(headers)) return false;
    if (method.clusterSecret !== undefined) {
      const refusal = checkClusterSecret(
        method.clusterSecret,
        method.path,
        headers[CLUSTER_SECRET_METADATA],
        `${stream.session?.socket?.remoteAddress}:${stream.session?.socket?.remotePort}`,
      );
      if (refusal !== undefined) {
        stream.on("error", () => {});
        failGrpc(stream, grpc.status.UNAUTHENTICATED, refusal);
        return true;
      }
    }
    serveCall(method, stream);
    return true;
  });
}

/** True for a gRPC request the fast path can serve (uncompressed, POST, gRPC content). */
function takes(headers: http2.IncomingHttpHeaders): boolean {
  const encoding = headers["grpc-encoding"];
  return headers[":method"] === "POST" &&
    (headers["content-type"] ?? "").startsWith("application/grpc") &&
    (encoding === undefined || encoding === "identity");
}

function serveCall<Req, Res>(
  method: UnaryFastPathMethod<Req, Res>,
  stream: http2.ServerHttp2Stream,
): void {
  const chunks: Buffer[] = [];
  let bytes = 0;
  let refused = false;
  // A reset or broken stream must not take the process down; the call is simply dropped.
  stream.on("error", () => {});
  stream.on("data", (chunk: Buffer) => {
    if (refused) return;
    bytes += chunk.byteLength;
    if (bytes > MAX_MESSAGE_BYTES + 5) {
      refused = true;
      failGrpc(
        stream,
        grpc.status.RESOURCE_EXHAUSTED,
        `Request larger than ${MAX_MESSAGE_BYTES} bytes`,
      );
      return;
    }
    chunks.push(chunk);
  });
  stream.on("end", () => {
    if (refused) return;
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes);
    let request: Req;
    try {
      request = method.decode(unframe(body));
    } catch (error) {
      failGrpc(
        stream,
        grpc.status.INTERNAL,
        `Request message parsing error: ${errorMessage(error)}`,
      );
      return;
    }
    method.handle(request).then(
      (response) => respondGrpc(stream, method.encode(response)),
      (error) => {
        const status = error as Partial<grpc.StatusObject>;
        if (typeof status?.code === "number") {
          failGrpc(stream, status.code, status.details ?? "");
        } else {
          failGrpc(stream, grpc.status.INTERNAL, errorMessage(error));
        }
      },
    );
  });
}

/** The message of a unary request body: exactly one uncompressed gRPC frame. */
function unframe(body: Buffer): Uint8Array {
  if (body.byteLength < 5) {
    throw new Error(`expected a 5-byte frame header, got ${body.byteLength} bytes`);
  }
  if (body[0] !== 0) throw new Error("expected an uncompressed message");
  const length = body.readUInt32BE(1);
  if (body.byteLength !== 5 + length) {
    throw new Error(`expected one message of ${length} bytes, got ${body.byteLength - 5}`);
  }
  return body.subarray(5);
}
