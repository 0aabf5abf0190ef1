/**
 * The supervisor's HTTP API: `/healthz`, `/readyz` (ready when every permanent child is),
 * `/metrics`, `GET /status`, `GET /events` and `POST /control` (`{"command": "kill raft-2"}`
 * answered with `{ok, output}`). The control API can kill processes: when a token is
 * configured, `/status`, `/events` and `/control` require `Authorization: Bearer <token>`, and
 * a call without it is refused (401) and logged. Every request, the health routes too, must
 * name this supervisor in its Host header (host_check.ts, against DNS rebinding): others are
 * refused with 421 before any route runs.
 *
 * @module
 */
import { z } from "zod";
import { Health, type HealthHttpServer, type Routes, serveHealth } from "@trading/shared/health";
import type { HttpLimits } from "@trading/shared/connection-limits";
import { getLogger } from "@trading/shared/log";
import type { CommandRegistry } from "./commands.ts";
import { faultTracker } from "./fault_tracker.ts";
import { hostChecker, misdirected } from "./host_check.ts";
import type { Supervisor } from "../supervision/supervisor.ts";

/** Options of {@linkcode serveControl}. */
export interface ControlServerOptions {
  hostname: string;
  /** 0 picks a free port. */
  port: number;
  /** When set, every admin call must present it as a bearer token. */
  token?: string | undefined;
  commands: CommandRegistry;
  /** More routes (a dashboard, server-sent events), served behind the same token. */
  routes?: Routes;
  /**
   * Routes served without the token: only what holds no data and controls nothing (the
   * dashboard's static page, which then asks its user for the token).
   */
  publicRoutes?: Routes;
  /** More names than the loopback ones and `hostname` that the Host header may carry. */
  allowedHosts?: readonly string[];
  /**
   * Largest request body read, bytes (`SUPERVISOR_MAX_REQUEST_BYTES`); a larger one is
   * answered 413 without being buffered. Default {@linkcode DEFAULT_MAX_REQUEST_BYTES}.
   */
  maxRequestBytes?: number;
  /** Connection cap and timeouts; default from the environment (`HTTP_*`). */
  limits?: HttpLimits;
}

/**
 * 16 KiB: a control request is `{"command": ...}` with at most 1,000 characters of command,
 * at most 6 KiB of JSON even with every character escaped.
 */
export const DEFAULT_MAX_REQUEST_BYTES = 16 * 1024;

/** A request body over the limit (answered 413). */
class BodyTooLargeError extends Error {}

/**
 * The body of `request` as text, read up to `maxBytes`: a Content-Length above it is refused
 * before a byte is read, and a body sent without one (chunked) is cancelled once it passes
 * it, so a client cannot make the supervisor buffer more than `maxBytes`.
 */
async function readBody(request: Request, maxBytes: number): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > maxBytes) throw new BodyTooLargeError();
  if (request.body === null) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLargeError();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return new TextDecoder().decode(bytes);
}

const ControlRequestSchema = z.object({ command: z.string().min(1).max(1000) });

const encoder = new TextEncoder();

/** Compares in time independent of where the strings differ (no timing oracle on the token). */
function sameSecret(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let difference = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) difference |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return difference === 0;
}

/**
 * Serves the supervisor's HTTP API on `hostname:port`. Returns the running server (its
 * bound port and `close()`).
 */
export async function serveControl(
  supervisor: Supervisor,
  options: ControlServerOptions,
): Promise<HealthHttpServer> {
  const log = getLogger("supervisor.api");
  const health = new Health("supervisor");
  for (const { name, restart } of supervisor.specs) {
    // Only permanent children must be up: a transient or temporary one may rightly be gone.
    if (restart === "permanent") {
      health.addCheck(name, () => supervisor.readinessChecks()[name] ?? true);
    }
  }
  const unsubscribe = supervisor.events.subscribe((event) => {
    if (event.kind === "shutdown") health.setShuttingDown();
  });

  const guarded =
    (handler: (request: Request) => Response | Promise<Response>) =>
    (request: Request): Response | Promise<Response> => {
      const refusal = crossSiteRefusal(request);
      if (refusal !== undefined) {
        log.warn("refused {method} {path}: {reason}", {
          method: request.method,
          path: new URL(request.url).pathname,
          reason: refusal,
        });
        return Response.json({ ok: false, output: `Forbidden: ${refusal}` }, { status: 403 });
      }
      if (options.token !== undefined) {
        const header = request.headers.get("authorization") ?? "";
        const presented = header.startsWith("Bearer ") ? header.slice(7).trim() : "";
        if (!sameSecret(presented, options.token)) {
          const path = new URL(request.url).pathname;
          log.warn("refused {method} {path}: missing or wrong bearer token", {
            method: request.method,
            path,
          });
          return Response.json(
            { ok: false, output: "Unauthorized: expected header Authorization: Bearer <token>" },
            { status: 401, headers: { "www-authenticate": "Bearer" } },
          );
        }
      }
      return handler(request);
    };

  // Set once the port is bound (0 picks one): the Host check needs it.
  const host = { check: (_request: Request): string | undefined => "not listening yet" };
  const server = await serveHealth(health, {
    hostname: options.hostname,
    port: options.port,
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    refuse: (request) => {
      const reason = host.check(request);
      if (reason === undefined) return undefined;
      // No URL parsing here: request.url is built from the very Host header refused.
      log.warn("refused {method} {url}: {reason}", {
        method: request.method,
        url: request.url,
        reason,
      });
      return misdirected(reason);
    },
    routes: {
      ...options.publicRoutes,
      ...Object.fromEntries(
        Object.entries(options.routes ?? {}).map(([path, handler]) => [path, guarded(handler)]),
      ),
      "/status": guarded((request) => {
        if (request.method !== "GET") return methodNotAllowed("GET");
        return Response.json({
          pid: Deno.pid,
          ready: supervisor.isReady(),
          shuttingDown: supervisor.shuttingDown,
          watchdogPid: supervisor.watchdogPid,
          children: supervisor.status(),
          faults: faultTracker(supervisor).active(),
        });
      }),
      "/events": guarded((request) => {
        if (request.method !== "GET") return methodNotAllowed("GET");
        const after = Number(new URL(request.url).searchParams.get("after") ?? "0");
        return Response.json({
          events: supervisor.events.list(Number.isFinite(after) ? after : 0),
        });
      }),
      "/control": guarded(async (request) => {
        if (request.method !== "POST") return methodNotAllowed("POST");
        const maxBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
        let body: unknown;
        try {
          body = JSON.parse(await readBody(request, maxBytes));
        } catch (error) {
          if (error instanceof BodyTooLargeError) {
            log.warn("refused POST /control: body over {max} bytes", { max: maxBytes });
            return Response.json({
              ok: false,
              output:
                `Request body too large: expected at most ${maxBytes} bytes (SUPERVISOR_MAX_REQUEST_BYTES)`,
            }, { status: 413 });
          }
          body = undefined;
        }
        const parsed = ControlRequestSchema.safeParse(body);
        if (!parsed.success) {
          return Response.json({
            ok: false,
            output: `Invalid control request: expected JSON {"command": "<command>"}\n\n${
              options.commands.usage(supervisor.names)
            }`,
          }, { status: 400 });
        }
        const { command } = parsed.data;
        const result = await options.commands.execute(command, supervisor);
        log.info("control {command}: {outcome}", {
          command,
          outcome: result.ok ? "ok" : result.usageError ? "usage error" : "failed",
        });
        const status = result.ok ? 200 : result.usageError ? 400 : 409;
        return Response.json({ ok: result.ok, output: result.output }, { status });
      }),
    },
  });
  host.check = hostChecker({
    hostname: options.hostname,
    port: server.port,
    allowedHosts: options.allowedHosts ?? [],
  });
  return {
    port: server.port,
    openConnections: server.openConnections,
    async close(graceMs?: number) {
      unsubscribe();
      await server.close(graceMs);
    },
  };
}

/**
 * Why a state-changing request must be refused as coming from another web site, or
 * undefined. Without a token on loopback, any page open in the user's browser could
 * otherwise POST `kill` commands: a cross-origin "simple" request (form content type)
 * reaches the handler even though the page cannot read the answer. So non-GET requests must
 * carry `content-type: application/json` (which a browser only sends cross-origin after a
 * CORS preflight we never grant), and a browser's `Sec-Fetch-Site` or `Origin`, when
 * present, must name this very origin.
 */
export function crossSiteRefusal(request: Request): string | undefined {
  if (request.method === "GET" || request.method === "HEAD") return undefined;
  const site = request.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none") {
    return `cross-site request (Sec-Fetch-Site: ${site})`;
  }
  const origin = request.headers.get("origin");
  if (origin !== null && origin !== new URL(request.url).origin) {
    return `request from another origin (${origin})`;
  }
  const contentType = request.headers.get("content-type") ?? "";
  if (!/^application\/json\b/i.test(contentType)) {
    return "expected content-type application/json";
  }
  return undefined;
}

function methodNotAllowed(allowed: string): Response {
  return Response.json({ ok: false, output: `Method not allowed: expected ${allowed}` }, {
    status: 405,
    headers: { allow: allowed },
  });
}
