/**
 * The parent side of a chaos run's probe (raft_probe_process.ts): starts it, collects what it
 * reports (leader changes, every Apply/Read with its outcome, order events from Kafka), and
 * answers the questions a scenario asks: who leads now, the first acknowledged Apply or the
 * first accepted order after a moment, whether the history is linearizable, and whether an
 * acknowledged Apply was lost.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { z } from "zod";
import {
  checkLinearizable,
  type LinearizabilityResult,
  type Operation,
} from "@trading/testing/linearizability";
import { sleep } from "@trading/shared/retry";
import type { ProbeConfig } from "./raft_probe_process.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const PROBE = fileURLToPath(new URL("./raft_probe_process.ts", import.meta.url));

/** The cluster as the probe saw it at one moment. */
export interface ClusterView {
  /** Epoch ms. */
  readonly t: number;
  /** The node that leads in the highest term, "" when none. */
  readonly leader: string;
  readonly term: number;
  readonly commit: number;
  readonly roles: Readonly<Record<string, string>>;
}

/** An order event seen on `orders.events`. */
export interface SeenEvent {
  /** Event creation, epoch ms. */
  readonly t: number;
  readonly status: "accepted" | "rejected";
  readonly raftIndex: number;
  /** Command creation, epoch ms. */
  readonly commandT: number;
}

/** What the probe reported when it stopped. */
export interface ProbeSummary {
  /** Applies acknowledged to the load. */
  readonly acked: number;
  /** Applies that failed on every attempt (possibly applied). */
  readonly uncertain: number;
  /** Acknowledged Applies that a linearizable read no longer finds. */
  readonly lost: readonly string[];
  /** Acknowledged Applies that could not be read back. */
  readonly unread: number;
}

const LineSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("hello"), timeOrigin: z.number() }),
  z.object({
    type: z.literal("cluster"),
    t: z.number(),
    leader: z.string(),
    term: z.number(),
    commit: z.number(),
    roles: z.record(z.string(), z.string()),
  }),
  z.object({ type: z.literal("op"), t: z.number(), op: z.custom<Operation>() }),
  z.object({
    type: z.literal("event"),
    t: z.number(),
    status: z.enum(["accepted", "rejected"]),
    raftIndex: z.number(),
    commandT: z.number(),
  }),
  z.object({
    type: z.literal("read-node"),
    t: z.number(),
    addr: z.string(),
    served: z.number(),
    notLeader: z.number(),
    failed: z.number(),
  }),
  z.object({
    type: z.literal("feed"),
    t: z.number(),
    addr: z.string(),
    ok: z.boolean(),
    paused: z.boolean().optional(),
    message: z.string().optional(),
  }),
  z.object({
    type: z.literal("stopped"),
    t: z.number(),
    acked: z.number(),
    uncertain: z.number(),
    lost: z.array(z.string()),
    unread: z.number(),
  }),
  z.object({ type: z.literal("error"), t: z.number(), message: z.string() }),
]);

type Line = z.output<typeof LineSchema>;

/**
 * A running probe.
 *
 * @example
 * ```ts
 * await using probe = RaftProbe.start({ nodes, load: { clients: 4, prefix: "s1", pauseMs: 10 }, brokers: null });
 * const leader = await probe.waitForLeader();
 * const summary = await probe.stop();
 * ```
 */
export class RaftProbe {
  /** Every cluster change, oldest first. */
  readonly clusterViews: ClusterView[] = [];
  /** Every recorded Apply/Read with the epoch ms it ended (or was issued, if open). */
  readonly operations: Array<{ t: number; op: Operation }> = [];
  /** Order events, in the order seen. */
  readonly events: SeenEvent[] = [];
  /** Errors the probe reported (Kafka unreachable...). */
  readonly errors: string[] = [];
  #process: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #pumping: Promise<void>;
  #waiters: Array<(line: Line) => void> = [];
  #summary: ProbeSummary | undefined;
  #stderr = "";

  private constructor(process: Deno.ChildProcess) {
    this.#process = process;
    this.#writer = process.stdin.getWriter();
    this.#pumping = this.#pump();
  }

  /**
   * Starts the probe process; `clusterSecret` is the CLUSTER_SECRET of the pipeline probed
   * (its gRPC calls need it), passed in the environment rather than on the command line.
   */
  static start(config: ProbeConfig, { clusterSecret }: { clusterSecret?: string } = {}): RaftProbe {
    const process = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--frozen", PROBE, JSON.stringify(config)],
      cwd: ROOT,
      env: {
        LOG_LEVEL: "error",
        ...(clusterSecret === undefined ? {} : { CLUSTER_SECRET: clusterSecret }),
      },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new RaftProbe(process);
  }

  async #pump(): Promise<void> {
    const decoder = new TextDecoder();
    const readStderr = (async () => {
      for await (const chunk of this.#process.stderr) {
        this.#stderr = (this.#stderr + decoder.decode(chunk)).slice(-4000);
      }
    })();
    let buffered = "";
    const lineDecoder = new TextDecoder();
    for await (const chunk of this.#process.stdout) {
      buffered += lineDecoder.decode(chunk, { stream: true });
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const text of lines) {
        if (!text.startsWith("{")) continue;
        const parsed = LineSchema.safeParse(JSON.parse(text));
        if (parsed.success) this.#take(parsed.data);
      }
    }
    await readStderr;
  }

  #take(line: Line): void {
    switch (line.type) {
      case "cluster":
        this.clusterViews.push(line);
        break;
      case "op":
        this.operations.push({ t: line.t, op: line.op });
        break;
      case "event":
        this.events.push(line);
        break;
      case "error":
        this.errors.push(line.message);
        break;
      case "stopped":
        this.#summary = line;
        break;
      default:
        break;
    }
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake(line);
  }

  async #send(command: Record<string, unknown>): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(`${JSON.stringify(command)}\n`));
  }

  /** Resolves with the first later line `match` accepts; rejects after `timeoutMs`. */
  #next<T>(match: (line: Line) => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== listen);
        reject(new Error(`Timed out after ${timeoutMs} ms waiting for the probe's ${what}`));
      }, timeoutMs);
      const listen = (line: Line) => {
        const value = match(line);
        if (value === undefined) {
          this.#waiters.push(listen);
          return;
        }
        clearTimeout(timer);
        resolve(value);
      };
      this.#waiters.push(listen);
    });
  }

  /** The latest view of the cluster, if any. */
  get cluster(): ClusterView | undefined {
    return this.clusterViews.at(-1);
  }

  /**
   * Waits until a node leads (one that `accept` accepts, when given) and returns the view.
   */
  async waitForLeader(
    accept: (view: ClusterView) => boolean = () => true,
    timeoutMs = 30_000,
  ): Promise<ClusterView> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const view = this.cluster;
      if (view && view.leader !== "" && accept(view)) return view;
      await sleep(25);
    }
    throw new Error(
      `Timed out after ${timeoutMs} ms waiting for a leader (last view ${
        JSON.stringify(this.cluster)
      })`,
    );
  }

  /**
   * Epoch ms of the first acknowledged Apply of the load that was issued after `t` (an Apply
   * issued before a fault and answered just after it says nothing about recovery), if any yet.
   */
  firstAckAfter(t: number): number | undefined {
    return this.operations.find(({ t: end, op }) =>
      op.op === "apply" && op.output !== undefined && op.return !== undefined &&
      typeof op.clientId === "number" && end - (op.return - op.call) > t
    )?.t;
  }

  /** Acknowledged Applies that returned after `t`. */
  acksAfter(t: number): number {
    return this.operations.filter(({ t: end, op }) =>
      end > t && op.op === "apply" && op.output !== undefined
    ).length;
  }

  /**
   * The first accepted order event created after `t` for a command also created after `t`:
   * an order that went through the whole pipeline after the fault.
   */
  firstAcceptedOrderAfter(t: number): SeenEvent | undefined {
    return this.events.find((e) => e.status === "accepted" && e.t > t && e.commandT > t);
  }

  /** Waits until `check` gives a value, polling every 50 ms. */
  async waitUntil<T>(
    what: string,
    check: () => T | undefined,
    timeoutMs = 30_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const value = check();
      if (value !== undefined) return value;
      await sleep(50);
    }
    throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
  }

  /**
   * Reads the newest acknowledged order from the node at `addr` (no redirect), linearizably,
   * every `intervalMs` for `durationMs`; every read it serves goes into the history.
   */
  async readNode(
    addr: string,
    durationMs: number,
    intervalMs = 50,
  ): Promise<{ served: number; notLeader: number; failed: number }> {
    const result = this.#next(
      (line) => line.type === "read-node" && line.addr === addr ? line : undefined,
      durationMs + 30_000,
      "read-node result",
    );
    await this.#send({ cmd: "read-node", addr, durationMs, intervalMs });
    return await result;
  }

  /**
   * Pauses or resumes the market-ingestor's feed at `addr` (its gRPC Pause/Resume), so that
   * the pipeline drains before the verifier reads it. Throws when the call failed.
   */
  async feed(addr: string, action: "pause" | "resume"): Promise<void> {
    const result = this.#next(
      (line) => line.type === "feed" && line.addr === addr ? line : undefined,
      30_000,
      `feed ${action} result`,
    );
    await this.#send({ cmd: "feed", addr, action });
    const line = await result;
    if (!line.ok) throw new Error(`Cannot ${action} the feed at ${addr}: ${line.message}`);
  }

  /** The recorded history checked by the linearizability checker. */
  linearizability(): LinearizabilityResult {
    return checkLinearizable(this.operations.map((o) => o.op));
  }

  /**
   * Stops the load, reads back every acknowledged Apply, and returns the summary once the
   * probe has exited.
   */
  async stop(timeoutMs = 120_000): Promise<ProbeSummary> {
    if (this.#summary) return this.#summary;
    await this.#send({ cmd: "stop" }).catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = await Promise.race([
      this.#process.status.then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (!done) this.#kill();
    await this.#close();
    if (!this.#summary) {
      throw new Error(`The probe stopped without a summary: ${this.#stderr.slice(-2000)}`);
    }
    return this.#summary;
  }

  #kill(): void {
    try {
      this.#process.kill("SIGKILL");
    } catch { /* gone */ }
  }

  async #close(): Promise<void> {
    await this.#process.status;
    await this.#writer.close().catch(() => {});
    await this.#pumping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#summary) this.#kill();
    await this.#close();
  }
}
