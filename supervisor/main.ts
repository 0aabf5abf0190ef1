/**
 * The `up` role: the whole pipeline under the supervisor (`deno task up`). Builds the
 * pipeline's child specs for the roles that exist, starts them with the watchdog, serves the
 * HTTP API, runs the REPL on a terminal, and shuts down in order on SIGINT, SIGTERM, SIGHUP
 * or the `shutdown` command (a second Ctrl-C kills whatever is left at once).
 *
 * @module
 */
import { getLogger, type LogLevel, setupLogging } from "@trading/shared/log";
import type { Routes } from "@trading/shared/health";
import { initMetrics } from "@trading/shared/metrics";
import { errorMessage } from "@trading/shared/retry";
import { generateClusterSecret } from "@trading/shared/cluster-secret";
import type { ChildCommand, ChildSpecInput } from "./supervision/child_spec.ts";
import { pipelineCommands } from "./control/chaos_commands.ts";
import { type CommandRegistry, defaultCommands } from "./control/commands.ts";
import { serveControl } from "./control/control_server.ts";
import { DashboardServer } from "./dashboard/dashboard_server.ts";
import { LogMultiplexer } from "./supervision/log_multiplexer.ts";
import { pipelineSpecs } from "./pipeline_specs.ts";
import { runRepl } from "./control/repl.ts";
import { selfCommand } from "./supervision/self_command.ts";
import { Supervisor } from "./supervision/supervisor.ts";
import { loadSupervisorConfig, type SupervisorConfig } from "./supervisor_config.ts";
import { describeTakenPorts, takenPorts } from "./supervision/taken_ports.ts";

const USAGE = `Usage: main.ts up

Starts the pipeline under the supervisor. Configuration comes from the environment:
  SUPERVISOR_HTTP_PORT    HTTP API port (default 8090)
  SUPERVISOR_HTTP_HOST    HTTP API address (default 127.0.0.1; any other needs SUPERVISOR_TOKEN)
  SUPERVISOR_TOKEN        bearer token required by the admin endpoints
  SUPERVISOR_MAX_REQUEST_BYTES  largest request body the HTTP API reads (default 16384)
  SUPERVISOR_PORT_OFFSET  added to every child's port (default 0)
  SUPERVISOR_DATA_DIR     children's data (default .data)
  CLUSTER_SECRET          secret every gRPC caller must present (default: a new one per run)
  KAFKA_BROKERS           use this Kafka instead of starting the embedded broker
  LOG_LEVEL               debug|info|warn|error (default info)`;

const DUPLICATE_SIGNAL_MS = 500;

/** The role's entry. Returns the exit code: 0 after an orderly shutdown. */
export async function main(args: string[]): Promise<number> {
  if (args.length > 0) {
    const help = args[0] === "--help" || args[0] === "-h";
    (help ? console.log : console.error)(
      help ? USAGE : `Unknown argument "${args[0]}": expected none\n\n${USAGE}`,
    );
    return help ? 0 : 2;
  }
  const config = loadSupervisorConfig();
  // One secret per pipeline: every child gets it in its environment, and so does every
  // process the supervisor starts for itself (raft-call, the watchdog), which inherit this
  // process's environment. Never logged.
  const clusterSecret = config.CLUSTER_SECRET ?? generateClusterSecret();
  Deno.env.set("CLUSTER_SECRET", clusterSecret);
  // Lazily, because main.ts itself loads this module lazily (no import cycle at start-up).
  const { ROLES } = await import("../main.ts");
  const specs = pipelineSpecs({
    portOffset: config.SUPERVISOR_PORT_OFFSET,
    dataDir: config.SUPERVISOR_DATA_DIR,
    kafkaBrokers: config.KAFKA_BROKERS,
    roles: Object.keys(ROLES),
    env: { LOG_LEVEL: config.LOG_LEVEL, CLUSTER_SECRET: clusterSecret },
  });
  return await runSupervisor({
    specs,
    config,
    commands: pipelineCommands(),
    dashboard: (supervisor) =>
      new DashboardServer(supervisor, { tokenRequired: config.SUPERVISOR_TOKEN !== undefined }),
  });
}

/** Options of {@linkcode runSupervisor}. */
export interface RunSupervisorOptions {
  specs: readonly ChildSpecInput[];
  config: SupervisorConfig;
  /** The command words; default {@linkcode defaultCommands}. */
  commands?: CommandRegistry;
  /** The watchdog command; default the `supervisor-watchdog` role of this executable. */
  watchdog?: ChildCommand;
  /** More HTTP routes (a dashboard), given the supervisor they show. */
  routes?: (supervisor: Supervisor) => Routes;
  /** The dashboard at `/` (supervisor/dashboard/dashboard_server.ts), given the supervisor it shows. */
  dashboard?: (
    supervisor: Supervisor,
  ) => { routes: Routes; publicRoutes: Routes; close(): Promise<void> };
}

/**
 * Runs a supervisor over `specs` with the HTTP API, signal handling and (on a terminal) the
 * REPL, until it has shut down. Returns the exit code.
 */
export async function runSupervisor(options: RunSupervisorOptions): Promise<number> {
  const { config } = options;
  const output = new LogMultiplexer({ pretty: Deno.stdout.isTerminal() });
  await setupSupervisorLogging(config.LOG_LEVEL, output);
  initMetrics("supervisor");
  const log = getLogger("supervisor");
  const supervisor = new Supervisor({
    specs: options.specs,
    output,
    watchdog: options.watchdog ?? selfCommand("supervisor-watchdog"),
  });
  const commands = options.commands ?? defaultCommands();

  const dashboard = options.dashboard?.(supervisor);
  let server;
  try {
    server = await serveControl(supervisor, {
      hostname: config.SUPERVISOR_HTTP_HOST,
      port: config.SUPERVISOR_HTTP_PORT,
      token: config.SUPERVISOR_TOKEN,
      allowedHosts: config.SUPERVISOR_ALLOWED_HOSTS?.split(",") ?? [],
      maxRequestBytes: config.SUPERVISOR_MAX_REQUEST_BYTES,
      limits: {
        maxConnections: config.HTTP_MAX_CONNECTIONS,
        idleTimeoutMs: config.HTTP_IDLE_TIMEOUT_MS,
        readTimeoutMs: config.HTTP_READ_TIMEOUT_MS,
      },
      commands,
      routes: { ...options.routes?.(supervisor), ...dashboard?.routes },
      publicRoutes: dashboard?.publicRoutes ?? {},
    });
  } catch (error) {
    await dashboard?.close();
    console.error(
      `Cannot listen on ${config.SUPERVISOR_HTTP_HOST}:${config.SUPERVISOR_HTTP_PORT}: ${
        errorMessage(error)
      } (another supervisor running? set SUPERVISOR_HTTP_PORT)`,
    );
    return 1;
  }
  const taken = takenPorts(options.specs);
  if (taken.length > 0) {
    await server.close();
    await dashboard?.close();
    console.error(describeTakenPorts(taken));
    return 1;
  }
  log.info("supervisor {pid} listening on http://{host}:{port} with {count} children", {
    pid: Deno.pid,
    host: config.SUPERVISOR_HTTP_HOST,
    port: server.port,
    count: supervisor.names.length,
    children: supervisor.names,
  });

  let forced = false;
  let firstSignalAt = 0;
  const onSignal = (signal: Deno.Signal) => () => {
    // One Ctrl-C under `deno task up` arrives twice within milliseconds: the terminal sends
    // it to the foreground process group and `deno task` forwards it again. Only a second
    // Ctrl-C a person pressed (later than DUPLICATE_SIGNAL_MS) forces the stop.
    const now = Date.now();
    if (supervisor.shuttingDown && now - firstSignalAt < DUPLICATE_SIGNAL_MS) return;
    firstSignalAt ||= now;
    if (supervisor.shuttingDown && signal === "SIGINT") {
      forced = true;
      log.warn("second SIGINT: killing every child now");
      supervisor.forceStop();
      return;
    }
    void supervisor.shutdown(signal);
  };
  const handlers = (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((signal) => {
    const handler = onSignal(signal);
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });

  supervisor.start();
  if (Deno.stdin.isTerminal()) void runRepl(commands, supervisor).catch(() => {});

  await supervisor.done;
  for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
  await server.close();
  log.info("supervisor stopped");
  return forced ? 1 : 0;
}

/**
 * JSON lines through shared/runtime/log.ts; on a terminal they go through the multiplexer, so the
 * supervisor's own lines read like its children's.
 */
function setupSupervisorLogging(level: LogLevel, output: LogMultiplexer): Promise<void> {
  return setupLogging(
    "supervisor",
    level,
    output.pretty ? { writeLine: (line) => output.line("supervisor", "stdout", line) } : {},
  );
}
