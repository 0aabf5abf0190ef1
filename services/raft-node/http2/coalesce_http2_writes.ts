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
 * to a `setImmediate` and writes everything pending as one buffer; a server session waits
 * two more turns so that its responses' trailers go in the same write (one write per call,
 * or per batch of calls, instead of two). {@linkcode flushHttp2Writes} writes at once what
 * must not wait. It relies on those internals: when they are not found (another Deno
 * version), sessions are left as they are and {@linkcode coalesceHttp2Writes} reports it.
 *
 * @module
 */
import http2 from "node:http2";
import { Buffer } from "node:buffer";
import { setImmediate } from "node:timers";
import type { Socket } from "node:net";

/** Turns of the event loop a server session's write waits for trailers (see flush). */
const TRAILER_TURNS = 2;

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
  const server = session.type === http2.constants.NGHTTP2_SESSION_SERVER;
  /** Frames drained from nghttp2 and not yet written. */
  let held: Uint8Array[] = [];
  let heldBytes = 0;
  /** Turns a server's flush has waited for trailers (see below). */
  let waitedForTrailers = 0;
  let scheduled = false;
  const drain = () => {
    for (;;) {
      const chunk = handle.getOutgoingChunk();
      if (!chunk || chunk.byteLength === 0) break;
      held.push(chunk);
      heldBytes += chunk.byteLength;
    }
    // What Deno's own sendPending does after draining (write bookkeeping).
    nativeSendPending.call(handle);
  };
  const write = () => {
    if (held.length === 1) socket.write(held[0]!);
    else if (held.length > 1) socket.write(Buffer.concat(held, heldBytes));
    held = [];
    heldBytes = 0;
    waitedForTrailers = 0;
  };
  const flush = () => {
    scheduled = false;
    // A destroyed session's handle is cleaned up (its sendPending replaced by a no-op).
    if (session.destroyed || socket.destroyed) return;
    drain();
    if (held.length === 0) return;
    // Draining the DATA of gRPC responses makes nghttp2 ask for their trailers, which Deno
    // submits two turns of the event loop later (strace of one call at a time: 2 writes per
    // call without waiting, or waiting one turn; 1 with two): a server waits that long and
    // writes its responses whole, once. A client needs the trailers to finish a call, so
    // nothing arrives later for it; what is not a response waits two turns.
    if (server && waitedForTrailers < TRAILER_TURNS) {
      waitedForTrailers++;
      scheduled = true;
      setImmediate(flush);
      return;
    }
    write();
  };
  const flushNow = () => {
    if (session.destroyed || socket.destroyed) return;
    drain();
    write();
  };
  handle.sendPending = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };
  flushes.set(session, flushNow);
  session.once("close", () => flushes.delete(session));
  return true;
}
