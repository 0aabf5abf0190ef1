/**
 * The common start-up of every service process: logging, metrics, health (HTTP and gRPC),
 * graceful shutdown. A service's main calls {@linkcode startService}, adds its own parts and
 * readiness checks, and returns `await service.shutdown.done` (or `runStartUp()` of
 * ./start_up.ts, which also handles a failed start-up).
 *
 * @module
 */
import type * as grpc from "@grpc/grpc-js";
import {
  addGrpcHealth,
  Health,
  type HealthHttpServer,
  type Routes,
  serveHealth,
} from "./health.ts";
import { type GrpcServer, startGrpcServer } from "../grpc/grpc.ts";
import { getLogger, type Logger, type LogLevel, setupLogging } from "./log.ts";
import { initMetrics } from "./metrics.ts";
import { GracefulShutdown } from "./shutdown.ts";
import { ConfigError } from "./config.ts";
import { errorMessage } from "./retry.ts";
import { loadConnectionLimits } from "../net/connection_limits.ts";

/** Options of {@linkcode startService}. */
export interface ServiceOptions {
  /** The service name as it appears in logs and metrics (for example `raft-1`). */
  name: string;
  logLevel: LogLevel;
  httpPort: number;
  /** Omit for a service without a gRPC port. */
  grpcPort?: number | undefined;
  /** Adds the service's own gRPC services (the health service is added for you). */
  registerGrpc?: (server: grpc.Server) => void;
  /** Extra HTTP routes beside /healthz, /readyz and /metrics. */
  routes?: Routes;
  /** Shutdown deadline in ms. */
  shutdownDeadlineMs?: number;
  /**
   * The cluster secret (`CLUSTER_SECRET`); when set, every gRPC call but a health check must
   * present it (shared/grpc/grpc.ts, `requireClusterSecret`).
   */
  clusterSecret?: string | undefined;
}

/** A started service: its logger, health, servers and shutdown coordinator. */
export interface Service {
  /** The name it was started with ({@linkcode ServiceOptions.name}). */
  readonly name: string;
  readonly log: Logger;
  readonly health: Health;
  readonly shutdown: GracefulShutdown;
  readonly http: HealthHttpServer;
  readonly grpc: GrpcServer | undefined;
}

/**
 * Sets up logging and metrics, starts the HTTP health server and the gRPC server (with
 * `grpc.health.v1.Health` following readiness), and installs graceful shutdown, which will
 * close both servers last.
 */
export async function startService(options: ServiceOptions): Promise<Service> {
  // Malformed limits stop start-up here, naming the variable, before anything binds.
  const limits = loadConnectionLimits();
  await setupLogging(options.name, options.logLevel);
  initMetrics(options.name);
  const log = getLogger(options.name.replace(/-\d+$/, ""));
  const health = new Health(options.name);
  const shutdown = new GracefulShutdown({
    onStart: () => health.setShuttingDown(),
    ...(options.shutdownDeadlineMs ? { deadlineMs: options.shutdownDeadlineMs } : {}),
  }).listen();

  const http = await bindingPort(
    "PORT_HTTP",
    options.httpPort,
    () =>
      serveHealth(health, {
        port: options.httpPort,
        routes: options.routes ?? {},
        limits: limits.http,
      }),
  );
  shutdown.defer("http server", () => http.close());

  let grpcServer: GrpcServer | undefined;
  if (options.grpcPort !== undefined) {
    let grpcHealth: { close(): void } | undefined;
    const grpcPort = options.grpcPort;
    grpcServer = await bindingPort(
      "PORT_GRPC",
      grpcPort,
      () =>
        startGrpcServer(grpcPort, (server) => {
          grpcHealth = addGrpcHealth(server, health);
          options.registerGrpc?.(server);
        }, { clusterSecret: options.clusterSecret, limits: limits.grpc }),
    );
    const started = grpcServer;
    shutdown.defer("grpc server", async () => {
      grpcHealth?.close();
      await started.close();
    });
  }
  log.info("{service} started (http {httpPort}, grpc {grpcPort})", {
    service: options.name,
    httpPort: http.port,
    grpcPort: grpcServer?.port ?? "none",
    pid: Deno.pid,
  });
  return { name: options.name, log, health, shutdown, http, grpc: grpcServer };
}

/**
 * Runs `bind` and turns a port that is taken into a {@linkcode ConfigError} naming the
 * variable, so that the process stops with one line (exit code 2) instead of a stack trace.
 * Deno throws `AddrInUse`; grpc-js rejects with a message that has EADDRINUSE in it.
 */
async function bindingPort<T>(variable: string, port: number, bind: () => T | Promise<T>) {
  try {
    return await bind();
  } catch (error) {
    if (!(error instanceof Deno.errors.AddrInUse) && !/EADDRINUSE/.test(errorMessage(error))) {
      throw error;
    }
    throw new ConfigError(
      variable,
      `Invalid ${variable} "${port}": expected a free port (127.0.0.1:${port} is in use: ${
        errorMessage(error)
      })`,
    );
  }
}
