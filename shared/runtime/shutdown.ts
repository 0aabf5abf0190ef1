/**
 * Graceful shutdown of a process. On SIGINT/SIGTERM (or when its supervisor goes away) it
 * stops taking work (aborts {@linkcode GracefulShutdown.signal}, marks health not ready),
 * runs the registered steps in reverse order of registration (last started, first stopped),
 * and exits 0 within a deadline; when the deadline passes, or a second signal arrives, it
 * exits 1 ("forced").
 *
 * @module
 */
import { getLogger } from "./log.ts";
import { errorMessage } from "./retry.ts";

/** The environment variable the supervisor sets on its children. */
export const SUPERVISED_ENV = "TRADING_SUPERVISED";

/** Exit code when shutdown did not finish within its deadline. */
export const FORCED_EXIT_CODE = 1;

type Step = { name: string; run: () => Promise<void> | void };

let exiting = false;

/**
 * True once this process has begun its graceful shutdown. gRPC servers and channels check
 * it to avoid sending HTTP/2 GOAWAY frames on the way out while the GOAWAY workaround is on
 * (shared/grpc/grpc.ts `DENO_GOAWAY_WORKAROUND`): an exiting process leaves its connections to
 * the kernel, and its peers see a plain TCP close, which they handle by reconnecting.
 */
export function processIsExiting(): boolean {
  return exiting;
}

/** Options of {@linkcode GracefulShutdown}. */
export interface ShutdownOptions {
  /** Time allowed for all steps, in ms. Default 8000 (the supervisor's grace is 10 s). */
  deadlineMs?: number;
  /** Called when shutdown starts (for example `health.setShuttingDown()`). */
  onStart?: () => void;
  /** How to exit when forced; injectable for tests. Default `Deno.exit`. */
  exit?: (code: number) => void;
}

/**
 * Coordinates the graceful shutdown of one process.
 *
 * @example
 * ```ts
 * const shutdown = new GracefulShutdown({ onStart: () => health.setShuttingDown() }).listen();
 * const grpcServer = await startGrpcServer(port, register);
 * shutdown.defer("grpc server", () => grpcServer.close());
 * return await shutdown.done; // the role's exit code
 * ```
 */
export class GracefulShutdown {
  #controller = new AbortController();
  #steps: Step[] = [];
  #started = false;
  #resolveDone!: (code: number) => void;
  #options: ShutdownOptions;
  #signalHandlers: Array<[Deno.Signal, () => void]> = [];
  #log = getLogger("shutdown");

  /** Resolves with the exit code once every step has run. */
  readonly done: Promise<number>;

  constructor(options: ShutdownOptions = {}) {
    this.#options = options;
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  /** Aborted when shutdown starts: stop taking new work. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** True once shutdown has started. */
  get started(): boolean {
    return this.#started;
  }

  /** Registers a step; steps run in reverse order of registration. */
  defer(name: string, run: () => Promise<void> | void): void {
    this.#steps.push({ name, run });
  }

  /**
   * Shuts down on SIGINT and SIGTERM, and when the supervisor that started this process goes
   * away (its end of our stdin closes). Returns `this`.
   */
  listen(): this {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      const handler = () => void this.trigger(signal);
      Deno.addSignalListener(signal, handler);
      this.#signalHandlers.push([signal, handler]);
    }
    if (Deno.env.get(SUPERVISED_ENV) === "1") void this.#watchSupervisor();
    return this;
  }

  async #watchSupervisor(): Promise<void> {
    // The supervisor keeps a pipe to our stdin open and never writes to it. When it dies,
    // even by SIGKILL, the kernel closes its end and our read returns EOF: no orphans.
    const buffer = new Uint8Array(64);
    try {
      while ((await Deno.stdin.read(buffer)) !== null) { /* ignore input */ }
    } catch { /* stdin closed */ }
    if (!this.#started) {
      this.#log.warn("supervisor went away, shutting down");
      await this.trigger("supervisor exited");
    }
  }

  /**
   * Starts the shutdown (idempotent; a second call while running forces exit 1). Resolves
   * with the exit code when every step has run.
   */
  trigger(reason: string): Promise<number> {
    const exit = this.#options.exit ?? ((code: number) => Deno.exit(code));
    if (this.#started) {
      if (reason === "SIGINT" || reason === "SIGTERM") {
        this.#log.warn("second {reason} during shutdown, forcing exit", { reason });
        exit(FORCED_EXIT_CODE);
      }
      return this.done;
    }
    this.#started = true;
    exiting = true;
    const deadlineMs = this.#options.deadlineMs ?? 8000;
    this.#log.info("shutting down ({reason})", { reason, deadlineMs });
    this.#controller.abort(new Error(`shutting down: ${reason}`));
    try {
      this.#options.onStart?.();
    } catch (error) {
      this.#log.error("shutdown onStart failed: {error}", { error: errorMessage(error) });
    }
    const timer = setTimeout(() => {
      this.#log.error("shutdown did not finish within {deadlineMs} ms, forcing exit", {
        deadlineMs,
      });
      exit(FORCED_EXIT_CODE);
    }, deadlineMs);
    void (async () => {
      let failed = false;
      for (const step of [...this.#steps].reverse()) {
        try {
          await step.run();
          this.#log.debug("stopped {step}", { step: step.name });
        } catch (error) {
          failed = true;
          this.#log.error("stopping {step} failed: {error}", {
            step: step.name,
            error: errorMessage(error),
          });
        }
      }
      clearTimeout(timer);
      for (const [signal, handler] of this.#signalHandlers) {
        Deno.removeSignalListener(signal, handler);
      }
      this.#log.info("shutdown complete");
      this.#resolveDone(failed ? FORCED_EXIT_CODE : 0);
    })();
    return this.done;
  }
}
