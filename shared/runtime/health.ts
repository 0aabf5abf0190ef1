/**
 * Health of a process: liveness, readiness checks, and the servers that expose them, HTTP
 * (`/healthz`, `/readyz`, `/metrics`) and gRPC (`grpc.health.v1.Health`, whose status follows
 * readiness).
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import {
  type HealthCheckRequest,
  HealthCheckResponse,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthServer,
  HealthService,
} from "@trading/proto/health";
import { metricsText, registry } from "./metrics.ts";
import { type HttpLimits, loadConnectionLimits } from "../net/connection_limits.ts";
import { type HttpServer, serveHttp } from "../net/serve_http.ts";

export { ServingStatus };

/** The result of one readiness check: `true`, or a reason it is not ready. */
export type CheckResult = true | string;

/** A named readiness check. It should be cheap: it runs on every `/readyz`. */
export type ReadinessCheck = () => CheckResult | Promise<CheckResult>;

/** The readiness of a process, as served on `/readyz`. */
export interface Readiness {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

/**
 * The health state of a process: readiness checks registered by its parts, and whether it
 * is shutting down (then it is no longer ready, but still alive).
 */
export class Health {
  readonly service: string;
  #checks = new Map<string, ReadinessCheck>();
  #shuttingDown = false;
  #listeners = new Set<(ready: boolean) => void>();
  #lastReady: boolean | undefined;

  constructor(service: string) {
    this.service = service;
  }

  /** Adds (or replaces) a readiness check. */
  addCheck(name: string, check: ReadinessCheck): void {
    this.#checks.set(name, check);
  }

  /** Marks the process as shutting down: `/readyz` and gRPC health report not serving. */
  setShuttingDown(): void {
    this.#shuttingDown = true;
    void this.readiness();
  }

  /** Runs every check and returns the readiness. */
  async readiness(): Promise<Readiness> {
    const checks: Readiness["checks"] = {};
    let ready = !this.#shuttingDown;
    if (this.#shuttingDown) checks["shutdown"] = { ok: false, detail: "shutting down" };
    for (const [name, check] of this.#checks) {
      let result: CheckResult;
      try {
        result = await check();
      } catch (error) {
        result = error instanceof Error ? error.message : String(error);
      }
      checks[name] = result === true ? { ok: true } : { ok: false, detail: result };
      if (result !== true) ready = false;
    }
    if (ready !== this.#lastReady) {
      this.#lastReady = ready;
      for (const listener of this.#listeners) listener(ready);
    }
    return { ready, checks };
  }

  /** Calls `listener` whenever the readiness changes (as seen by a `readiness()` call). */
  onChange(listener: (ready: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** Extra HTTP routes served beside the health endpoints: path to handler. */
export type Routes = Record<string, (request: Request) => Response | Promise<Response>>;

/** A running HTTP health server. */
export type HealthHttpServer = HttpServer;

/**
 * Serves `/healthz` (200 while the process runs), `/readyz` (200 or 503 with the checks as
 * JSON) and `/metrics` (Prometheus text) on `hostname:port` (port 0 picks a free port), plus
 * any extra `routes`, within the HTTP connection limits (`limits`, default from the
 * environment: shared/net/connection_limits.ts).
 */
export function serveHealth(
  health: Health,
  { port, hostname = "127.0.0.1", routes = {}, refuse, limits }: {
    port: number;
    hostname?: string;
    routes?: Routes;
    /** Runs before every route, the health ones too: a response refuses the request. */
    refuse?: (request: Request) => Response | undefined;
    limits?: HttpLimits;
  },
): Promise<HealthHttpServer> {
  return serveHttp(async (request) => {
    const refusal = refuse?.(request);
    if (refusal !== undefined) return refusal;
    const path = new URL(request.url).pathname;
    if (path === "/healthz") {
      return Response.json({ status: "ok", service: health.service });
    }
    if (path === "/readyz") {
      const readiness = await health.readiness();
      return Response.json({ service: health.service, ...readiness }, {
        status: readiness.ready ? 200 : 503,
      });
    }
    if (path === "/metrics") {
      return new Response(await metricsText(), {
        headers: { "content-type": registry.contentType },
      });
    }
    const route = routes[path];
    if (route) return await route(request);
    return new Response("not found\n", { status: 404 });
  }, { port, hostname, limits: limits ?? loadConnectionLimits().http, name: health.service });
}

/**
 * Adds `grpc.health.v1.Health` to a gRPC server. The overall status ("" service) and the
 * service named `health.service` follow readiness: SERVING when ready, NOT_SERVING otherwise.
 * Watch streams are updated when readiness changes (checked every `pollMs`).
 */
export function addGrpcHealth(
  server: grpc.Server,
  health: Health,
  { pollMs = 1000 }: { pollMs?: number } = {},
): { close(): void } {
  const watchers = new Set<grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>>();
  let current = ServingStatus.NOT_SERVING;

  const statusFor = (service: string): ServingStatus => {
    if (service === "" || service === health.service) return current;
    return ServingStatus.SERVICE_UNKNOWN;
  };
  const refresh = async () => {
    const { ready } = await health.readiness();
    const next = ready ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    if (next === current) return;
    current = next;
    for (const call of watchers) {
      call.write(HealthCheckResponse.fromPartial({ status: statusFor(call.request.service) }));
    }
  };
  const unsubscribe = health.onChange(() => void refresh());
  const timer = setInterval(() => void refresh(), pollMs);
  void refresh();

  const implementation: HealthServer = {
    check: (call, callback) => {
      void refresh().then(() => {
        const status = statusFor(call.request.service);
        if (status === ServingStatus.SERVICE_UNKNOWN) {
          callback({
            code: grpc.status.NOT_FOUND,
            details: `unknown service ${call.request.service}`,
          });
        } else {
          callback(null, HealthCheckResponse.fromPartial({ status }));
        }
      });
    },
    watch: (call) => {
      watchers.add(call);
      call.write(HealthCheckResponse.fromPartial({ status: statusFor(call.request.service) }));
      call.on("cancelled", () => watchers.delete(call));
      call.on("close", () => watchers.delete(call));
    },
  };
  server.addService(HealthService, implementation);
  return {
    close() {
      clearInterval(timer);
      unsubscribe();
      for (const call of watchers) call.end();
      watchers.clear();
    },
  };
}
