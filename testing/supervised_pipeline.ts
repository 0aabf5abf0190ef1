/**
 * The whole pipeline under `main.ts up`, as a child process of a test, a chaos suite, the
 * demo, the soak or a benchmark: on free ports (a port offset at which every port of
 * docs/DESIGN.md is free), with its own data directory, driven through the supervisor's HTTP API
 * (`POST /control` with the same words as the REPL, `GET /status`, `GET /events`) and the
 * ingestor's control API, and verified with the `verify` role. Test, script and benchmark
 * code only.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { type IngestorStatus, MarketIngestorClient } from "@trading/proto";
import { insecure, unary, withClusterSecret } from "@trading/shared/grpc";
import { generateClusterSecret } from "@trading/shared/cluster-secret";
import { errorMessage, sleep } from "@trading/shared/retry";
import { freePortOffset } from "@trading/supervisor/free-port-offset";
import { DEFAULT_PORTS } from "@trading/supervisor/pipeline-specs";
import { readLines } from "@trading/supervisor/read-lines";
import { freePort } from "./free_port.ts";
import { waitFor } from "./wait_for.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

/** A child as `GET /status` reports it (the fields the suites read). */
export const ChildStatusSchema = z.object({
  name: z.string(),
  pid: z.number().nullable(),
  state: z.string(),
  restarts: z.number(),
  health: z.object({ ok: z.boolean() }).passthrough().nullable(),
  ports: z.record(z.string(), z.number()),
}).passthrough();

/** `GET /status`. */
export const StatusSchema = z.object({
  ready: z.boolean(),
  children: z.array(ChildStatusSchema),
  faults: z.array(z.object({ id: z.number(), kind: z.string(), target: z.string() }).passthrough())
    .default([]),
}).passthrough();

/** One supervisor event (`GET /events`). */
export const EventSchema = z.object({
  seq: z.number(),
  time: z.string(),
  kind: z.string(),
  child: z.string().optional(),
  message: z.string(),
  fields: z.record(z.string(), z.unknown()).optional(),
});

/** A supervisor event. */
export type PipelineEvent = z.output<typeof EventSchema>;
/** A supervisor status. */
export type PipelineStatus = z.output<typeof StatusSchema>;

/** What the verifier (`main.ts verify --json`) reports; the fields the suites use. */
export const VerifyReportSchema = z.object({
  uniqueCommands: z.number(),
  uniqueOrderIds: z.number(),
  events: z.number(),
  accepted: z.number(),
  rejected: z.number(),
  duplicates: z.number(),
  duplicateIds: z.array(z.string()),
  lost: z.number(),
  lostIds: z.array(z.string()),
  complete: z.boolean(),
  ok: z.boolean(),
}).passthrough();

/** The verifier's report. */
export type VerifyReport = z.output<typeof VerifyReportSchema>;

/** A raft node of the pipeline. */
export interface PipelineRaftNode {
  /** Child name and RAFT_NODE_ID (pipeline_specs.ts uses the name as the id). */
  readonly id: string;
  readonly grpcAddr: string;
}

/** Options of {@linkcode SupervisedPipeline.start}. */
export interface SupervisedPipelineOptions {
  /** The children's data directory (a temporary one: never the repository's .data). */
  dataDir: string;
  /**
   * More environment for the supervisor and so every child (INGESTOR_RATE, LOG_LEVEL,
   * RAFT_*...); the supervisor's ports, data directory and the embedded broker are set here.
   */
  env?: Record<string, string>;
  /** How long to wait for every child to be ready. Default 120 s. */
  readyTimeoutMs?: number;
  /** Called with each output line of the supervisor (children's lines included). */
  onLine?: (line: string) => void;
  /** Also append every output line to this file (kept after the run, for a post-mortem). */
  logFile?: string | undefined;
  /**
   * A Kafka cluster to run against (`KAFKA_BROKERS`, host:port,...) instead of the embedded
   * broker, which is then not started. The topics must exist on it.
   */
  kafkaBrokers?: string | undefined;
}

const TAIL_LINES = 400;

/**
 * A running pipeline under its supervisor.
 *
 * @example
 * ```ts
 * await using pipeline = await SupervisedPipeline.start({ dataDir: dir.path });
 * await pipeline.control("kill leader");
 * const report = await pipeline.verify(30);
 * ```
 */
export class SupervisedPipeline implements AsyncDisposable {
  readonly offset: number;
  readonly url: string;
  /** The pipeline's CLUSTER_SECRET, which gRPC clients of its processes must send. */
  readonly clusterSecret: string;
  /** Epoch ms when the supervisor was started. */
  readonly startedAt = Date.now();
  readonly process: Deno.ChildProcess;
  #tail: string[] = [];
  #pumps: Promise<void>;
  #stopped: Promise<void> | undefined;
  #exitCode: number | undefined;
  #ingestor: MarketIngestorClient | undefined;
  #kafkaBrokers: string | undefined;

  private constructor(
    offset: number,
    kafkaBrokers: string | undefined,
    url: string,
    clusterSecret: string,
    process: Deno.ChildProcess,
    onLine: (line: string) => void,
    onEnd: () => void,
  ) {
    this.offset = offset;
    this.#kafkaBrokers = kafkaBrokers;
    this.url = url;
    this.clusterSecret = clusterSecret;
    this.process = process;
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      for await (const line of readLines(stream)) {
        this.#tail.push(line);
        if (this.#tail.length > TAIL_LINES) this.#tail.shift();
        onLine(line);
      }
    };
    this.#pumps = Promise.all([pump(process.stdout), pump(process.stderr)]).then(onEnd);
    void process.status.then((status) => (this.#exitCode = status.code));
  }

  /** Starts `main.ts up` and waits until every child is running and ready. */
  static async start(options: SupervisedPipelineOptions): Promise<SupervisedPipeline> {
    const offset = freePortOffset();
    const httpPort = freePort();
    const clusterSecret = options.env?.CLUSTER_SECRET ?? generateClusterSecret();
    const process = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--frozen", MAIN, "up"],
      cwd: ROOT,
      env: {
        LOG_LEVEL: "info",
        ...options.env,
        SUPERVISOR_HTTP_PORT: String(httpPort),
        SUPERVISOR_PORT_OFFSET: String(offset),
        SUPERVISOR_DATA_DIR: options.dataDir,
        // Empty: the embedded broker, whatever the caller's environment says.
        KAFKA_BROKERS: options.kafkaBrokers ?? "",
        CLUSTER_SECRET: clusterSecret,
      },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const log = options.logFile
      ? Deno.openSync(options.logFile, { append: true, create: true })
      : undefined;
    const encoder = new TextEncoder();
    const pipeline = new SupervisedPipeline(
      offset,
      options.kafkaBrokers,
      `http://127.0.0.1:${httpPort}`,
      clusterSecret,
      process,
      (line) => {
        log?.writeSync(encoder.encode(`${line}\n`));
        options.onLine?.(line);
      },
      () => log?.close(),
    );
    try {
      await pipeline.waitReady(options.readyTimeoutMs ?? 120_000);
    } catch (error) {
      const tail = pipeline.tail(60);
      await pipeline.stop();
      throw new Error(`${(error as Error).message}\n--- supervisor output ---\n${tail}`);
    }
    return pipeline;
  }

  /** The Kafka bootstrap addresses: the embedded broker's, or the cluster it was given. */
  get brokers(): string {
    return this.#kafkaBrokers ?? `127.0.0.1:${DEFAULT_PORTS.broker.kafka + this.offset}`;
  }

  /** The three raft nodes. */
  get raftNodes(): PipelineRaftNode[] {
    return (["raft-1", "raft-2", "raft-3"] as const).map((id) => ({
      id,
      grpcAddr: `127.0.0.1:${DEFAULT_PORTS[id].grpc + this.offset}`,
    }));
  }

  /** The market-ingestor's gRPC address (its feed's Pause and Resume). */
  get ingestorAddr(): string {
    return `127.0.0.1:${DEFAULT_PORTS["market-ingestor"].grpc + this.offset}`;
  }

  /** The resident memory of the three services, MB (from their /metrics). */
  async servicesRssMb(): Promise<number> {
    let bytes = 0;
    for (const name of ["market-ingestor", "stream-processor", "order-executor"] as const) {
      const port = DEFAULT_PORTS[name].http + this.offset;
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      const line = (await response.text()).split("\n").find((l) =>
        l.startsWith("process_resident_memory_bytes")
      );
      bytes += Number(line?.split(" ").at(-1) ?? 0);
    }
    return Math.round(bytes / 1024 / 1024);
  }

  /** The last `lines` lines of the supervisor's output. */
  tail(lines = 100): string {
    return this.#tail.slice(-lines).join("\n");
  }

  /** `GET /status`. */
  async status(): Promise<PipelineStatus> {
    const response = await fetch(`${this.url}/status`, { signal: AbortSignal.timeout(5000) });
    return StatusSchema.parse(await response.json());
  }

  /** `GET /events?after=`. */
  async events(after = 0): Promise<PipelineEvent[]> {
    const response = await fetch(`${this.url}/events?after=${after}`, {
      signal: AbortSignal.timeout(5000),
    });
    const body = z.object({ events: z.array(EventSchema) }).parse(await response.json());
    return body.events;
  }

  /** Runs one control command (`kill leader`); returns `{ok, output}`. */
  async control(command: string): Promise<{ ok: boolean; output: string }> {
    const response = await fetch(`${this.url}/control`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ command }),
      signal: AbortSignal.timeout(60_000),
    });
    return z.object({ ok: z.boolean(), output: z.string() }).parse(await response.json());
  }

  /** Runs a control command and throws with its output when it fails. */
  async must(command: string): Promise<string> {
    const result = await this.control(command);
    if (!result.ok) throw new Error(`Control command "${command}" failed: ${result.output}`);
    return result.output;
  }

  /**
   * SIGKILLs `name` (or `leader`) and waits until the supervisor restarted it and the whole
   * pipeline is ready again.
   */
  async killAndAwaitRestart(name: string, timeoutMs = 60_000): Promise<void> {
    const restarts = (status: PipelineStatus) =>
      new Map(status.children.map((c) => [c.name, c.restarts]));
    const before = restarts(await this.status());
    await this.must(`kill ${name}`);
    await waitFor(`${name} restarted`, async () => {
      const after = restarts(await this.status());
      return [...after].some(([child, count]) => count > (before.get(child) ?? 0));
    }, { timeoutMs, intervalMs: 100 });
    await this.waitReady(timeoutMs);
  }

  #ingestorClient(): MarketIngestorClient {
    this.#ingestor ??= new MarketIngestorClient(
      this.ingestorAddr,
      insecure(),
      withClusterSecret(this.clusterSecret),
    );
    return this.#ingestor;
  }

  /** The ingestor's status (its control API). */
  ingestorStatus(): Promise<IngestorStatus> {
    const client = this.#ingestorClient();
    return unary(client, client.getStatus, {});
  }

  /** Sets the synthetic feed's rate. */
  setRate(ticksPerSecond: number): Promise<IngestorStatus> {
    const client = this.#ingestorClient();
    return unary(client, client.setRate, { ticksPerSecond });
  }

  /** Pauses the feed. */
  pause(): Promise<IngestorStatus> {
    const client = this.#ingestorClient();
    return unary(client, client.pause, {});
  }

  /** Resumes the feed. */
  resume(): Promise<IngestorStatus> {
    const client = this.#ingestorClient();
    return unary(client, client.resume, {});
  }

  /** True when every child is running and passed its last readiness probe. */
  async isReady(): Promise<boolean> {
    const status = await this.status();
    return status.ready &&
      status.children.every((c) => c.state === "running" && c.health?.ok === true);
  }

  /** Waits until {@linkcode isReady}. */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "no answer yet";
    while (Date.now() < deadline) {
      if (this.#exitCode !== undefined) {
        throw new Error(`The supervisor exited with code ${this.#exitCode} before it was ready`);
      }
      try {
        const status = await this.status();
        const waiting = status.children.filter((c) => c.state !== "running" || !c.health?.ok);
        if (status.ready && waiting.length === 0) return;
        last = waiting.map((c) => `${c.name} ${c.state}`).join(", ") || "not ready";
      } catch (error) {
        last = errorMessage(error);
      }
      await sleep(200);
    }
    throw new Error(`Timed out after ${timeoutMs} ms waiting for the pipeline (${last})`);
  }

  /**
   * Runs the verifier (`main.ts verify <seconds> <brokers> --json`) and returns its report.
   * `seconds` bounds the read; it stops early once both topics are read to the end.
   */
  async verify(seconds: number): Promise<VerifyReport> {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--frozen", MAIN, "verify", String(seconds), this.brokers, "--json"],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout((seconds + 60) * 1000),
    }).output();
    const text = new TextDecoder().decode(output.stdout).trim();
    const line = text.split("\n").filter((l) => l.startsWith("{")).at(-1);
    if (line === undefined) {
      throw new Error(
        `The verifier printed no report (exit ${output.code}): ${
          new TextDecoder().decode(output.stderr).slice(-2000)
        }`,
      );
    }
    return VerifyReportSchema.parse(JSON.parse(line));
  }

  /**
   * Stops the pipeline: SIGTERM to the supervisor (an orderly shutdown in reverse dependency
   * order), SIGKILL after `graceMs`. Idempotent.
   */
  stop(graceMs = 40_000): Promise<void> {
    this.#stopped ??= (async () => {
      this.#ingestor?.close();
      try {
        this.process.kill("SIGTERM");
      } catch { /* already gone */ }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const exited = await Promise.race([
        this.process.status.then(() => true),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
      ]);
      clearTimeout(timer);
      if (!exited) {
        try {
          this.process.kill("SIGKILL");
        } catch { /* gone */ }
        await this.process.status;
      }
      await this.#pumps;
    })();
    return this.#stopped;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
