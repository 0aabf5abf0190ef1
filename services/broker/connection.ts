/**
 * One client connection: reads size-prefixed request frames, starts each request's handler
 * in arrival order (so produce offsets follow the order requests were sent), and writes the
 * responses in that same order, as Kafka clients expect. A malformed, truncated or
 * oversized frame closes this connection only, with a log line naming the client and the
 * reason; no error escapes the handler.
 *
 * @module
 */
import { getLogger } from "@trading/shared/log";
import { errorMessage } from "@trading/shared/retry";
import {
  encodeResponse,
  firstErrorCode,
  parseRequestHeader,
  runHandler,
  unsupportedResponse,
} from "./handle_request.ts";
import type { BrokerState, RequestContext } from "./handlers/context.ts";
import { apiName } from "./protocol/messages.ts";
import { Reader } from "./protocol/wire.ts";

const log = getLogger(["broker", "connection"]);

/** Requests a connection may have in flight before the broker stops reading from it. */
const MAX_IN_FLIGHT = 64;
const READ_BUFFER_SIZE = 64 * 1024;
/** The first allocation for a frame body larger than what has arrived of it. */
const FIRST_FRAME_CHUNK = 64 * 1024;

/** Why a connection was closed for bad input. */
export class BadFrameError extends Error {
  constructor(readonly reason: "oversized" | "truncated" | "malformed", message: string) {
    super(message);
    this.name = "BadFrameError";
  }
}

/** What a {@linkcode FrameReader} tells its connection about the frame it is reading. */
export interface FrameReaderEvents {
  /** The reader waits for more bytes of a frame that has begun (once per frame). */
  frameStarted(): void;
  /** The frame {@linkcode frameStarted} announced is complete. */
  frameDone(): void;
  /** The bytes held for the frame being read changed by `delta`. */
  allocated(delta: number): void;
}

/**
 * Reads size-prefixed frames. A frame's buffer grows with the bytes that arrive (doubling,
 * from {@linkcode FIRST_FRAME_CHUNK} up to the announced size), so a client that announces
 * `BROKER_MAX_FRAME_BYTES` and sends ten bytes makes the broker hold 64 KiB, not 100 MiB:
 * at most twice what was received plus 64 KiB per connection.
 */
class FrameReader {
  private buf = new Uint8Array(READ_BUFFER_SIZE);
  private start = 0;
  private end = 0;
  private held = 0;

  constructor(
    private readonly conn: Deno.Conn,
    private readonly maxFrameBytes: number,
    private readonly events: FrameReaderEvents,
  ) {}

  private async fill(): Promise<boolean> {
    if (this.start === this.end) {
      this.start = this.end = 0;
    } else if (this.end === this.buf.length) {
      this.buf.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    const n = await this.conn.read(this.buf.subarray(this.end));
    if (n === null) return false;
    this.end += n;
    return true;
  }

  private hold(bytes: number): void {
    this.events.allocated(bytes - this.held);
    this.held = bytes;
  }

  /** The next frame, or null at a clean end of stream. */
  async next(): Promise<Uint8Array | null> {
    // The read timeout runs only while a begun frame waits for bytes: a frame that is
    // already buffered whole costs no timer.
    let waiting = false;
    const waitInFrame = () => {
      if (waiting) return;
      waiting = true;
      this.events.frameStarted();
    };
    while (this.end - this.start < 4) {
      if (this.end > this.start) waitInFrame();
      if (!(await this.fill())) {
        if (this.end === this.start) return null;
        throw new BadFrameError(
          "truncated",
          `Connection closed inside a frame size (${this.end - this.start} of 4 bytes)`,
        );
      }
    }
    const size = new DataView(this.buf.buffer).getInt32(this.start);
    if (size < 0 || size > this.maxFrameBytes) {
      throw new BadFrameError(
        "oversized",
        `Frame size ${size} is outside 0-${this.maxFrameBytes} (BROKER_MAX_FRAME_BYTES)`,
      );
    }
    this.start += 4;
    const buffered = Math.min(size, this.end - this.start);
    if (buffered === size) {
      this.start += size;
      if (waiting) this.events.frameDone();
      return this.buf.slice(this.start - size, this.start);
    }
    let frame = new Uint8Array(Math.min(size, Math.max(FIRST_FRAME_CHUNK, buffered)));
    this.hold(frame.length);
    frame.set(this.buf.subarray(this.start, this.start + buffered));
    this.start += buffered;
    let filled = buffered;
    try {
      while (filled < size) {
        if (filled === frame.length) {
          const grown = new Uint8Array(Math.min(size, frame.length * 2));
          grown.set(frame);
          frame = grown;
          this.hold(frame.length);
        }
        waitInFrame();
        const n = await this.conn.read(frame.subarray(filled));
        if (n === null) {
          throw new BadFrameError(
            "truncated",
            `Connection closed after ${filled} of ${size} frame bytes`,
          );
        }
        filled += n;
      }
    } finally {
      this.hold(0);
    }
    if (waiting) this.events.frameDone();
    return frame;
  }
}

/** The limits of one connection (`BrokerOptions` names each one). */
export interface ConnectionLimits {
  readonly maxFrameBytes: number;
  readonly idleMs: number;
  readonly requestReadTimeoutMs: number;
}

/** Serves one client connection until it closes. */
export class ClientConnection {
  readonly peer: string;
  private clientId: string | null = null;
  private readonly queue: Promise<Uint8Array | null>[] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private readTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly conn: Deno.Conn,
    private readonly state: BrokerState,
    private readonly limits: ConnectionLimits,
  ) {
    const addr = conn.remoteAddr as Deno.NetAddr;
    this.peer = `${addr.hostname}:${addr.port}`;
  }

  /** Reads and answers requests until the client disconnects or sends bad input. */
  async serve(): Promise<void> {
    const writer = this.writeResponses();
    const reader = new FrameReader(this.conn, this.limits.maxFrameBytes, {
      frameStarted: () => this.startReadTimer(),
      frameDone: () => clearTimeout(this.readTimer),
      allocated: (delta) => this.state.metrics.frameBufferBytes.inc(delta),
    });
    this.touch();
    try {
      for (;;) {
        while (this.queue.length >= MAX_IN_FLIGHT) await this.queue[0];
        const frame = await reader.next();
        if (frame === null) break;
        this.touch();
        const pending = this.handle(frame);
        // The writer awaits it; this catch only keeps a rejection the writer no longer
        // awaits (it stopped after a bad frame or a failed write) from ending the process.
        pending.catch(() => {});
        this.queue.push(pending);
        this.wake?.();
      }
    } catch (error) {
      if (error instanceof BadFrameError) {
        this.badInput(error.reason, error.message);
      } else if (!this.closed && !isDisconnect(error)) {
        log.warn("Connection from {client} failed: {reason}", {
          client: this.describe(),
          reason: errorMessage(error),
        });
      }
    }
    this.closed = true;
    this.wake?.();
    await writer;
    this.close();
  }

  /**
   * A frame has begun: it must be complete within the read timeout, or the connection is
   * closed (a client that sends part of a request and stalls holds its buffer otherwise).
   */
  private startReadTimer(): void {
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(() => {
      log.warn(
        "Closing connection from {client}: a request frame took over {ms} ms to arrive (BROKER_REQUEST_READ_TIMEOUT_MS)",
        { client: this.describe(), ms: this.limits.requestReadTimeoutMs },
      );
      this.state.metrics.refusedConnections.inc({ reason: "read_timeout" });
      this.close();
    }, this.limits.requestReadTimeoutMs);
  }

  /** Restarts the idle timer: traffic was seen. */
  private touch(): void {
    if (this.closed) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.queue.length > 0) return this.touch(); // A long poll is not idleness.
      log.info(
        "Closing connection from {client}: idle for {ms} ms (BROKER_CONNECTIONS_MAX_IDLE_MS)",
        {
          client: this.describe(),
          ms: this.limits.idleMs,
        },
      );
      this.state.metrics.refusedConnections.inc({ reason: "idle" });
      this.close();
    }, this.limits.idleMs);
  }

  private describe(): string {
    return this.clientId === null ? this.peer : `${this.peer} (client id "${this.clientId}")`;
  }

  private badInput(reason: string, message: string): void {
    this.state.metrics.closedBadFrames.inc({ reason });
    log.warn("Closing connection from {client}: {reason}", {
      client: this.describe(),
      reason: message,
    });
    this.closed = true;
    this.close();
  }

  /**
   * Starts one request; the returned promise yields its response frame (null: none).
   * Throws {@linkcode BadFrameError} at once when the frame does not decode.
   */
  private handle(frame: Uint8Array): Promise<Uint8Array | null> {
    const started = performance.now();
    const reader = new Reader(frame);
    let name = "unknown";
    try {
      const header = parseRequestHeader(frame, reader);
      if (header.clientId !== null) this.clientId = header.clientId;
      name = apiName(header.apiKey);
      if (header.api === undefined) {
        log.info("Unsupported request {api} v{version} from {client}", {
          api: name,
          version: header.apiVersion,
          client: this.describe(),
        });
        this.state.metrics.requests.inc({ api: name, error_code: "35" });
        return Promise.resolve(unsupportedResponse(header));
      }
      const api = header.api;
      const ctx: RequestContext = {
        apiKey: header.apiKey,
        apiVersion: header.apiVersion,
        correlationId: header.correlationId,
        clientId: header.clientId,
        clientHost: this.peer,
      };
      const body = runHandler(this.state, ctx, api, reader);
      const finish = (response: object | null): Uint8Array | null => {
        this.state.metrics.requests.inc({
          api: name,
          error_code: String(firstErrorCode(response)),
        });
        this.state.metrics.requestSeconds.observe(
          { api: name },
          (performance.now() - started) / 1000,
        );
        return response === null
          ? null
          : encodeResponse(api, header.apiVersion, header.correlationId, response);
      };
      if (body instanceof Promise) return body.then(finish);
      return Promise.resolve(finish(body));
    } catch (error) {
      throw new BadFrameError("malformed", `Malformed ${name} request: ${errorMessage(error)}`);
    }
  }

  private async writeResponses(): Promise<void> {
    for (;;) {
      const next = this.queue[0];
      if (next === undefined) {
        if (this.closed) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      let frame: Uint8Array | null;
      try {
        frame = await next;
      } catch (error) {
        this.queue.length = 0;
        if (error instanceof BadFrameError) this.badInput(error.reason, error.message);
        else this.badInput("malformed", `Request failed: ${errorMessage(error)}`);
        return;
      }
      this.queue.shift();
      if (frame === null) continue;
      try {
        await writeAll(this.conn, frame);
        this.touch();
      } catch (error) {
        if (!isDisconnect(error)) {
          log.warn("Writing to {client} failed: {reason}", {
            client: this.describe(),
            reason: errorMessage(error),
          });
        }
        this.queue.length = 0;
        this.closed = true;
        this.close();
        return;
      }
    }
  }

  /** Closes the socket (idempotent). */
  close(): void {
    this.closed = true;
    clearTimeout(this.idleTimer);
    clearTimeout(this.readTimer);
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

function isDisconnect(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.NotConnected;
}
