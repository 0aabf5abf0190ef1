/**
 * Coalesces the socket writes of every HTTP/2 session in this process (gRPC servers and
 * clients alike) into one write per session per turn of the event loop.
 *
 * Why: Deno 2.9's node:http2 writes each HTTP/2 frame with its own socket write as soon as
 * it is produced: a unary gRPC response is three writes (HEADERS at `respond()`, DATA on the
 * next tick, trailers in a `setImmediate`), and 64 responses completed together are 192
 * writes, each a loopback `sendto` that also wakes the client for one more read. Node.js'
 * own http2 batches them (its `Http2Session::MaybeScheduleWrite` sends pending data once per
 * turn, from a `SetImmediate`), and so does grpc-go's write loop. Measured on this machine
 * with an Apply handler that answers at once and a Node.js grpc-js client: 64 in flight go
 * from about 5,300 to 7,500 calls/s, 3 writes per call to one per 30 calls.
 *
 * How: Deno's session handle (`session[kHandle]`) has a `sendPending()` that drains the
 * native nghttp2 session chunk by chunk into `socket.write()`. The replacement defers that
 * to a `setImmediate` and writes everything pending as one buffer. It relies on those
 * internals: when they are not found (another Deno version), sessions are left as they are
 * and {@linkcode coalesceHttp2Writes} reports it.
 *
 * @module
 */
import http2 from "node:http2";
import { Buffer } from "node:buffer";
import { setImmediate } from "node:timers";
import type { Socket } from "node:net";

/** What Deno's node:http2 keeps behind a session's `kHandle` symbol (the parts used here). */
interface SessionHandle {
  sendPending(): void;
  getOutgoingChunk(): Uint8Array | undefined;
}

let installed = false;
/** Sessions whose handle could not be found (a runtime without the expected internals). */
let unsupportedSessions = 0;
/** The write-out of every coalescing session, by session. */
const flushes = new Map<http2.Http2Session, () => void>();

/**
 * Writes out at once every frame waiting for the end of this turn of the event loop, on
 * every session. For a caller about to block the event loop (a synchronous fsync) after
 * producing frames that should leave first (a leader's AppendEntries, thesis §10.2.1).
 */
export function flushHttp2Writes(): void {
  for (const flush of flushes.values()) flush();
}

/**
 * Makes every HTTP/2 session created from now on in this process coalesce its writes (see
 * the module doc). Call it once at start-up, before any gRPC server or client exists.
 * Idempotent. Returns a function that tells how many sessions could not be patched.
 */
export function coalesceHttp2Writes(): { unsupportedSessions(): number } {
  const status = { unsupportedSessions: () => unsupportedSessions };
  if (installed) return status;
  installed = true;
  // grpc-js looks these up on the module object at every call (`http2.connect(...)`), so
  // wrapping them here reaches its servers and channels.
  const module = http2 as unknown as Record<string, unknown>;
  const createServer = http2.createServer;
  module.createServer = function (this: unknown, ...args: unknown[]) {
    const server = (createServer as (...a: unknown[]) => http2.Http2Server).apply(this, args);
    server.on("session", (session: http2.ServerHttp2Session) => {
      coalesceSession(session);
    });
    return server;
  };
  const connect = http2.connect;
  module.connect = function (this: unknown, ...args: unknown[]) {
    const session = (connect as (...a: unknown[]) => http2.ClientHttp2Session).apply(this, args);
    // The handle exists once the socket is connected: at once for grpc-js, which hands over
    // a connected socket. (Not on "connect" then: grpc-js removes every listener of the
    // session when its SETTINGS arrive, which can be before "connect" is emitted.)
    if (!coalesceSession(session, false)) session.once("connect", () => coalesceSession(session));
    return session;
  };
  return status;
}

/**
 * Replaces the session's eager `sendPending()` with one deferred, single-write flush.
 * Returns false when the session has no handle (yet); `count` counts it as unsupported.
 */
function coalesceSession(session: http2.Http2Session, count = true): boolean {
  const fields = session as unknown as Record<symbol, unknown>;
  const symbols = Object.getOwnPropertySymbols(session);
  const handle = fields[symbols.find((s) => s.description === "kHandle")!] as
    | SessionHandle
    | undefined;
  const socket = fields[symbols.find((s) => s.description === "socket")!] as Socket | undefined;
  const nativeSendPending = handle && Object.getPrototypeOf(handle)?.sendPending;
  if (
    handle === undefined || socket === undefined || typeof nativeSendPending !== "function" ||
    typeof handle.getOutgoingChunk !== "function" || typeof handle.sendPending !== "function"
  ) {
    if (count) unsupportedSessions++;
    return false;
  }
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    // A destroyed session's handle is cleaned up (its sendPending replaced by a no-op).
    if (session.destroyed || socket.destroyed) return;
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    for (;;) {
      const chunk = handle.getOutgoingChunk();
      if (!chunk || chunk.byteLength === 0) break;
      chunks.push(chunk);
      bytes += chunk.byteLength;
    }
    if (chunks.length === 1) socket.write(chunks[0]!);
    else if (chunks.length > 1) socket.write(Buffer.concat(chunks, bytes));
    // What Deno's own sendPending does after draining (write bookkeeping).
    nativeSendPending.call(handle);
    // Draining made nghttp2 ask for the trailers of the responses it just sent; Deno submits
    // them from a setImmediate queued meanwhile. Flushing again right after those, rather
    // than one more turn later, finishes the calls a turn of the event loop sooner.
    if (chunks.length > 0 && !scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  handle.sendPending = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };
  flushes.set(session, flush);
  session.once("close", () => flushes.delete(session));
  return true;
}
