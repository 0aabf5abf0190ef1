/**
 * The dashboard's HTTP side, served by the supervisor on its own port (8090):
 *
 * - `GET /`, `/dashboard/dashboard.js`, `/dashboard/dashboard.css`: the static page, read from
 *   `supervisor/dashboard/assets/` relative to this module (so it is found inside a `deno compile`
 *   binary too, which embeds that folder with `--include`). No build step, no CDN.
 * - `GET /dashboard/config`: `{tokenRequired}`, so the page knows whether to ask for the token.
 * - `GET /dashboard/stream`: server-sent events. `hello` (history, recent timeline, latest
 *   snapshot) on connect, then `snapshot` once per aggregation round and `timeline` for
 *   every supervisor event as it happens.
 * - `POST /dashboard/ticket` (behind the bearer token): a one-time ticket for the stream.
 *
 * The token: EventSource cannot send an Authorization header, and a token in a URL leaks into
 * logs and history. So when a token is configured, the page (which asked its user for the
 * token and keeps it in sessionStorage) trades it for a single-use ticket valid for a minute,
 * and opens the stream with that ticket. Without a token (loopback bind) no ticket is needed.
 *
 * A stream's buffer is bounded: a client that stops reading (a stalled tab, or a socket
 * opened and never read) would otherwise make the supervisor queue every snapshot and event
 * for it forever. When its queued bytes would pass `maxStreamBufferBytes` (4 MiB), the
 * stream is ended and counted in `supervisor_sse_clients_dropped_total`; a browser's
 * EventSource reconnects and gets a fresh `hello`.
 *
 * @module
 */
import type { Routes } from "@trading/shared/health";
import { getLogger } from "@trading/shared/log";
import { counter } from "@trading/shared/metrics";
import { DashboardAggregator, type DashboardAggregatorOptions } from "./dashboard_aggregator.ts";
import type { SupervisorEvent } from "../supervision/event_timeline.ts";
import type { Supervisor } from "../supervision/supervisor.ts";

/** The dashboard's static files, relative to this module. */
export const DASHBOARD_ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/dashboard/dashboard.js": { file: "dashboard.js", type: "text/javascript; charset=utf-8" },
  "/dashboard/dashboard.css": { file: "dashboard.css", type: "text/css; charset=utf-8" },
};

/** The folder of the static files, import.meta-relative (works in a compiled binary). */
export const DASHBOARD_ASSET_DIR: URL = new URL("./assets/", import.meta.url);

/** Timeline events sent on connect. */
const RECENT_EVENTS = 200;
const TICKET_TTL_MS = 60_000;
/** Default of {@linkcode DashboardServerOptions.maxStreamBufferBytes}. */
export const DEFAULT_STREAM_BUFFER_BYTES = 4 * 1024 * 1024;

const streamsDropped = counter(
  "supervisor_sse_clients_dropped_total",
  "Dashboard event streams ended because their client did not read and the buffer was full",
);

/** Options of {@linkcode DashboardServer}. */
export interface DashboardServerOptions extends DashboardAggregatorOptions {
  /** True when the supervisor's API requires a bearer token (SUPERVISOR_TOKEN is set). */
  tokenRequired: boolean;
  /**
   * The most bytes queued for one event stream; a stream that would pass it is ended.
   * Default {@linkcode DEFAULT_STREAM_BUFFER_BYTES}.
   */
  maxStreamBufferBytes?: number;
}

const SECURITY_HEADERS = {
  // Everything the page uses comes from this origin: it works offline, and nothing else runs.
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

const encoder = new TextEncoder();

/**
 * The dashboard of one supervisor: its aggregation loop and its routes. It starts with the
 * supervisor and stops by itself at the supervisor's `shutdown` event, ending every open
 * stream so that the HTTP server can close.
 *
 * @example
 * ```ts
 * const code = await runSupervisor({
 *   specs,
 *   config,
 *   routes: (supervisor) => new DashboardServer(supervisor, { tokenRequired: false }).routes,
 * });
 * ```
 */
export class DashboardServer {
  readonly aggregator: DashboardAggregator;
  #supervisor: Supervisor;
  #tokenRequired: boolean;
  #maxStreamBufferBytes: number;
  #tickets = new Map<string, number>();
  /** Open streams and the function that ends each one's subscriptions. */
  #streams = new Map<ReadableStreamDefaultController<Uint8Array>, () => void>();
  #assets = new Map<string, Uint8Array>();
  #unsubscribe: () => void;
  #closed = false;
  #log = getLogger(["supervisor", "dashboard"]);

  constructor(supervisor: Supervisor, options: DashboardServerOptions) {
    this.#supervisor = supervisor;
    this.#tokenRequired = options.tokenRequired;
    this.#maxStreamBufferBytes = options.maxStreamBufferBytes ?? DEFAULT_STREAM_BUFFER_BYTES;
    this.aggregator = new DashboardAggregator(supervisor, options);
    this.#unsubscribe = supervisor.events.subscribe((event) => {
      if (event.kind === "shutdown") {
        // The last words reach the pages before their streams end.
        this.#broadcast("timeline", event);
        void this.close();
      }
    });
    this.aggregator.start();
  }

  /** Routes that need the bearer token when one is configured. */
  get routes(): Routes {
    return {
      "/dashboard/ticket": (request) => {
        if (request.method !== "POST") return methodNotAllowed("POST");
        return Response.json({ ticket: this.#issueTicket() }, { headers: SECURITY_HEADERS });
      },
    };
  }

  /** Routes served without the token: the static page, its config and the stream (ticketed). */
  get publicRoutes(): Routes {
    const routes: Routes = {
      "/dashboard/config": () =>
        Response.json({ tokenRequired: this.#tokenRequired }, { headers: SECURITY_HEADERS }),
      "/dashboard/stream": (request) => this.#stream(request),
    };
    for (const [path, asset] of Object.entries(DASHBOARD_ASSETS)) {
      routes[path] = (request) => this.#asset(request, asset.file, asset.type);
    }
    return routes;
  }

  /** The number of open event streams. */
  get openStreams(): number {
    return this.#streams.size;
  }

  /** Stops the aggregation and ends every open stream. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    for (const [controller, stop] of this.#streams) {
      stop();
      try {
        controller.close();
      } catch { /* already closed by the client */ }
    }
    this.#streams.clear();
    await this.aggregator.stop();
  }

  async #asset(request: Request, file: string, type: string): Promise<Response> {
    if (request.method !== "GET" && request.method !== "HEAD") return methodNotAllowed("GET");
    let body = this.#assets.get(file);
    if (!body) {
      body = await Deno.readFile(new URL(file, DASHBOARD_ASSET_DIR));
      this.#assets.set(file, body);
    }
    return new Response(request.method === "HEAD" ? null : body as Uint8Array<ArrayBuffer>, {
      headers: { "content-type": type, ...SECURITY_HEADERS },
    });
  }

  #issueTicket(): string {
    const now = Date.now();
    for (const [ticket, expires] of this.#tickets) if (expires < now) this.#tickets.delete(ticket);
    const ticket = crypto.randomUUID();
    this.#tickets.set(ticket, now + TICKET_TTL_MS);
    return ticket;
  }

  #redeemTicket(ticket: string | null): boolean {
    if (ticket === null) return false;
    const expires = this.#tickets.get(ticket);
    this.#tickets.delete(ticket);
    return expires !== undefined && expires >= Date.now();
  }

  #stream(request: Request): Response {
    if (request.method !== "GET") return methodNotAllowed("GET");
    if (this.#closed) {
      return Response.json({ ok: false, output: "The supervisor is shutting down" }, {
        status: 503,
      });
    }
    const ticket = new URL(request.url).searchParams.get("ticket");
    if (this.#tokenRequired && !this.#redeemTicket(ticket)) {
      this.#log.warn("refused a dashboard stream: missing, used or expired ticket");
      return Response.json({
        ok: false,
        output: "Unauthorized: expected a ticket from POST /dashboard/ticket",
      }, { status: 401 });
    }
    let stop = () => {};
    const max = this.#maxStreamBufferBytes;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        const send = (event: string, data: unknown) => this.#push(controller, frame(event, data));
        // `retry`: how soon the browser's EventSource reconnects after a dropped stream.
        controller.enqueue(encoder.encode("retry: 1000\n\n"));
        // The first frame always goes, however large: the bound is on what piles up after.
        controller.enqueue(frame("hello", {
          history: this.aggregator.history,
          events: this.#supervisor.events.list().slice(-RECENT_EVENTS),
          snapshot: this.aggregator.latest ?? null,
        }));
        const unsubscribeSnapshots = this.aggregator.subscribe((s) => send("snapshot", s));
        const unsubscribeEvents = this.#supervisor.events.subscribe((event) => {
          if (event.kind !== "shutdown") send("timeline", event);
        });
        stop = () => {
          unsubscribeSnapshots();
          unsubscribeEvents();
          this.#streams.delete(controller);
        };
        this.#streams.set(controller, stop);
      },
      cancel: () => stop(),
    }, { highWaterMark: max, size: (chunk) => chunk.byteLength });
    return new Response(body, {
      headers: {
        ...SECURITY_HEADERS,
        "content-type": "text/event-stream; charset=utf-8",
        "x-accel-buffering": "no",
      },
    });
  }

  #broadcast(event: string, data: SupervisorEvent): void {
    const bytes = frame(event, data);
    for (const controller of [...this.#streams.keys()]) this.#push(controller, bytes);
  }

  /**
   * Queues `bytes` on a stream, or ends the stream when they would take its queue past the
   * bound (its client does not read) or it is closed already.
   */
  #push(controller: ReadableStreamDefaultController<Uint8Array>, bytes: Uint8Array): void {
    const stop = this.#streams.get(controller);
    if (stop === undefined) return;
    // desiredSize is the high-water mark (the bound) minus what is queued.
    const room = controller.desiredSize ?? 0;
    if (bytes.byteLength > room) {
      stop();
      streamsDropped.inc();
      this.#log.warn(
        "ended a dashboard stream whose client stopped reading ({queued} bytes queued)",
        {
          queued: this.#maxStreamBufferBytes - room,
        },
      );
      try {
        controller.error(new Error("Stream buffer full: the client stopped reading"));
      } catch { /* already closed */ }
      return;
    }
    try {
      controller.enqueue(bytes);
    } catch {
      stop();
    }
  }
}

/** One server-sent event: JSON data on one line (JSON.stringify never emits a newline). */
function frame(event: string, data: unknown): Uint8Array {
  return encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function methodNotAllowed(allowed: string): Response {
  return Response.json({ ok: false, output: `Method not allowed: expected ${allowed}` }, {
    status: 405,
    headers: { allow: allowed },
  });
}
