/**
 * The dashboard's Raft status, asked from a long-lived child process: the internal
 * `dashboard-raft-poller` role polls every raft node's gRPC `Status` once per interval and
 * prints one JSON line per round; {@linkcode RaftPollerProcess} runs it from the supervisor
 * and keeps the latest view.
 *
 * Why a child process: the GOAWAY workaround (shared/grpc/grpc.ts `DENO_GOAWAY_WORKAROUND`): a
 * process whose node:http2 session receives a GOAWAY can abort (see supervisor/control/raft_call.ts).
 * Every raft node stopped gracefully sends one to its clients: a
 * supervisor holding the dashboard's channels died that way during its own shutdown. The
 * poller holds the channels instead and never closes them (a graceful close can crash the
 * node); if it dies, the supervisor starts another one a second later. Unlike a `raft-call`
 * process per round, a long-lived poller costs next to nothing at one round per second.
 *
 * @module
 */
import { z } from "zod";
import { getLogger } from "@trading/shared/log";
import { errorMessage } from "@trading/shared/retry";
import type { ChildCommand } from "../supervision/child_spec.ts";
import {
  type RaftClusterView,
  RaftStatusPoller,
  type RaftTarget,
  unknownNode,
} from "./dashboard_raft_status.ts";
import { readLines } from "../supervision/read_lines.ts";
import { selfCommand } from "../supervision/self_command.ts";

const ArgsSchema = z.object({
  targets: z.array(z.object({ name: z.string().min(1), address: z.string().min(1) })).max(64),
  intervalMs: z.number().int().min(50).max(60_000),
  deadlineMs: z.number().int().min(10).max(60_000),
});

/** What the role takes as its one JSON argument. */
export type RaftPollerArgs = z.infer<typeof ArgsSchema>;

/**
 * The `dashboard-raft-poller` role: polls until its stdin closes (the supervisor went away),
 * one JSON {@linkcode RaftClusterView} line per round on stdout. Returns without closing its
 * channels on purpose (see the module comment): main.ts exits the process right after.
 */
export async function main(args: string[]): Promise<number> {
  let options: RaftPollerArgs;
  try {
    options = ArgsSchema.parse(JSON.parse(args[0] ?? ""));
  } catch (error) {
    console.error(
      `Invalid dashboard-raft-poller arguments: expected one JSON {targets, intervalMs, deadlineMs} (${
        errorMessage(error)
      })`,
    );
    return 2;
  }
  const poller = new RaftStatusPoller(options.targets, { deadlineMs: options.deadlineMs });
  let stdinOpen = true;
  const stdinClosed = (async () => {
    for await (const _ of Deno.stdin.readable) { /* nothing is sent; only EOF matters */ }
    stdinOpen = false;
  })();
  const encoder = new TextEncoder();
  while (stdinOpen) {
    const startedAt = Date.now();
    const view = await poller.poll();
    try {
      await Deno.stdout.write(encoder.encode(`${JSON.stringify(view)}\n`));
    } catch {
      return 0; // the supervisor is gone
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      stdinClosed,
      new Promise((resolve) => {
        timer = setTimeout(resolve, Math.max(0, options.intervalMs - (Date.now() - startedAt)));
      }),
    ]);
    clearTimeout(timer);
  }
  return 0;
}

/** Options of {@linkcode RaftPollerProcess}. */
export interface RaftPollerProcessOptions {
  /** Round period, ms. Default 1000. */
  intervalMs?: number;
  /** Deadline of each Status call, ms. Default 800. */
  deadlineMs?: number;
  /** How the role is started; default this executable's `dashboard-raft-poller` role. */
  command?: (args: string[]) => ChildCommand;
  /** The nodes' CLUSTER_SECRET, for the poller to send (in its environment). */
  clusterSecret?: string | undefined;
}

/** Runs the `dashboard-raft-poller` role and keeps its latest view; restarts it if it dies. */
export class RaftPollerProcess {
  #targets: RaftTarget[];
  #args: RaftPollerArgs;
  #command: (args: string[]) => ChildCommand;
  #clusterSecret: string | undefined;
  #latest: { view: RaftClusterView; at: number } | undefined;
  #child: Deno.ChildProcess | undefined;
  #running: Promise<void> | undefined;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #log = getLogger(["supervisor", "dashboard"]);

  constructor(targets: readonly RaftTarget[], options: RaftPollerProcessOptions = {}) {
    this.#targets = [...targets];
    this.#args = {
      targets: this.#targets,
      intervalMs: options.intervalMs ?? 1000,
      deadlineMs: options.deadlineMs ?? 800,
    };
    this.#command = options.command ??
      ((args) => selfCommand("dashboard-raft-poller", args));
    this.#clusterSecret = options.clusterSecret;
  }

  /** The poller's pid while it runs. */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** Starts the poller process (nothing to do without raft nodes). */
  start(): void {
    if (this.#targets.length === 0 || this.#stopped || this.#running) return;
    this.#running = this.#run().finally(() => {
      this.#running = undefined;
      if (this.#stopped) return;
      this.#restartTimer = setTimeout(() => this.start(), 1000);
      Deno.unrefTimer(this.#restartTimer);
    });
  }

  /**
   * The latest view. A view older than three rounds (poller dead or stuck) says so on every
   * node instead of showing stale figures.
   */
  latest(now = Date.now()): RaftClusterView {
    const staleAfterMs = 3 * this.#args.intervalMs + this.#args.deadlineMs;
    if (this.#latest && now - this.#latest.at <= staleAfterMs) return this.#latest.view;
    const error = this.#latest
      ? `no status for ${Math.round((now - this.#latest.at) / 1000)} s`
      : "waiting for the first status";
    return {
      leader: null,
      term: null,
      nodes: this.#targets.map((t) => unknownNode(t, error)),
    };
  }

  /** Ends the poller (stdin EOF, then SIGKILL after a second) and waits for it. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (child) {
      await child.stdin.close().catch(() => {});
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 1000);
      await child.status;
      clearTimeout(timer);
    }
    await this.#running;
  }

  async #run(): Promise<void> {
    const command = this.#command([JSON.stringify(this.#args)]);
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(command.executable, {
        args: command.args,
        ...(this.#clusterSecret === undefined
          ? {}
          : { env: { CLUSTER_SECRET: this.#clusterSecret } }),
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      this.#log.warn("cannot start the dashboard's raft poller: {error}", {
        error: errorMessage(error),
      });
      return;
    }
    this.#child = child;
    let stderr = "";
    const collectStderr = (async () => {
      for await (const line of readLines(child.stderr)) stderr = `${stderr}${line}\n`.slice(-2000);
    })();
    for await (const line of readLines(child.stdout)) {
      try {
        this.#latest = { view: JSON.parse(line) as RaftClusterView, at: Date.now() };
      } catch { /* a partial line from a dying poller */ }
    }
    const status = await child.status;
    await collectStderr;
    this.#child = undefined;
    if (!this.#stopped) {
      this.#log.warn("the dashboard's raft poller exited ({code}), restarting it: {stderr}", {
        code: status.signal ?? status.code,
        stderr: stderr.trim().split("\n").at(-1) ?? "",
      });
    }
  }
}
