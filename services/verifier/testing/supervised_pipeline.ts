/**
 * Test and benchmark helper: the whole pipeline (embedded broker, three raft-nodes, the
 * three services) under the supervisor (`main.ts up`) on free ports with its own data, plus
 * what tests need to drive it: the supervisor's control API (kill, restart, `kill leader`),
 * the ingestor's control API (rate, pause), and the Kafka address for the verifier.
 * Test code only.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { IngestorStatus, MarketIngestorClient } from "@trading/proto";
import { insecure, unary } from "@trading/shared/grpc";
import { freePort, waitFor } from "@trading/shared/testing";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const MAIN = join(ROOT, "main.ts");

/** The pipeline's default ports (DESIGN.md), before the offset. */
const DEFAULT_PORTS = [
  9092,
  9644,
  50070,
  50071,
  50072,
  8080,
  8081,
  8082,
  7000,
  7001,
  7002,
  50051,
  50052,
  50053,
  8083,
  8084,
  8085,
];

/** A port offset at which every port of the pipeline is free right now. */
export function freePortOffset(): number {
  for (let attempt = 0; attempt < 100; attempt++) {
    const offset = 1_000 + Math.floor(Math.random() * 14_000);
    const listeners: Deno.Listener[] = [];
    try {
      for (const port of DEFAULT_PORTS) {
        listeners.push(Deno.listen({ hostname: "127.0.0.1", port: port + offset }));
      }
      return offset;
    } catch {
      // Taken: try another offset.
    } finally {
      for (const listener of listeners) listener.close();
    }
  }
  throw new Error("No free port offset found: expected the pipeline's 17 ports to be free");
}

/** The status of one child, as `GET /status` reports it. */
export interface ChildStatus {
  name: string;
  pid: number | null;
  state: string;
  restarts: number;
  health: { ok: boolean } | null;
}

/** Options of {@linkcode SupervisedPipeline.start}. */
export interface SupervisedPipelineOptions {
  dataDir: string;
  /** Ticks per second of the synthetic feed. Default 200. */
  rate?: number;
  /** Extra environment for the supervisor and (inherited) every child. */
  env?: Record<string, string>;
  /** Echo the supervisor's output to stderr (debugging). */
  echo?: boolean;
}

/** A running pipeline under the supervisor. */
export class SupervisedPipeline implements AsyncDisposable {
  readonly offset: number;
  readonly supervisorUrl: string;
  readonly kafkaBrokers: string;
  #process: Deno.ChildProcess;
  #output: string[] = [];
  #collecting: Promise<unknown>;
  #ingestor: MarketIngestorClient;

  private constructor(
    offset: number,
    supervisorPort: number,
    process: Deno.ChildProcess,
    echo: boolean,
  ) {
    this.offset = offset;
    this.supervisorUrl = `http://127.0.0.1:${supervisorPort}`;
    this.kafkaBrokers = `127.0.0.1:${9092 + offset}`;
    this.#process = process;
    this.#ingestor = new MarketIngestorClient(`127.0.0.1:${50051 + offset}`, insecure());
    const decoder = new TextDecoder();
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      let pending = "";
      for await (const chunk of stream) {
        pending += decoder.decode(chunk, { stream: true });
        const lines = pending.split("\n");
        pending = lines.pop()!;
        for (const line of lines) {
          this.#output.push(line);
          if (this.#output.length > 20_000) this.#output.splice(0, 10_000);
          if (echo) console.error(line);
        }
      }
    };
    this.#collecting = Promise.all([collect(process.stdout), collect(process.stderr)]);
  }

  /** Starts the supervisor and waits until every child is running and healthy. */
  static async start(options: SupervisedPipelineOptions): Promise<SupervisedPipeline> {
    const offset = freePortOffset();
    const supervisorPort = freePort();
    const process = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--frozen", MAIN, "up"],
      cwd: ROOT,
      env: {
        SUPERVISOR_HTTP_PORT: String(supervisorPort),
        SUPERVISOR_PORT_OFFSET: String(offset),
        SUPERVISOR_DATA_DIR: options.dataDir,
        KAFKA_BROKERS: "",
        LOG_LEVEL: "info",
        // Inherited by the children: the supervisor does not give these services a data
        // directory of their own (see the report of issue 5), so the test does.
        STREAM_PROCESSOR_DATA_DIR: join(options.dataDir, "stream-processor"),
        EXECUTOR_DATA_DIR: join(options.dataDir, "order-executor"),
        INGESTOR_RATE: String(options.rate ?? 200),
        ...options.env,
      },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pipeline = new SupervisedPipeline(offset, supervisorPort, process, options.echo ?? false);
    try {
      await pipeline.waitHealthy(90_000);
    } catch (error) {
      await pipeline[Symbol.asyncDispose]();
      throw new Error(`${(error as Error).message}\n--- supervisor output ---\n${pipeline.tail()}`);
    }
    return pipeline;
  }

  /** The last `lines` lines of output. */
  tail(lines = 80): string {
    return this.#output.slice(-lines).map((l) => l.slice(0, 400)).join("\n");
  }

  /** Output lines matching `pattern`. */
  grep(pattern: RegExp): string[] {
    return this.#output.filter((line) => pattern.test(line));
  }

  /** The children as the supervisor reports them. */
  async children(): Promise<ChildStatus[]> {
    const response = await fetch(`${this.supervisorUrl}/status`);
    const body = await response.json() as { children: ChildStatus[] };
    return body.children;
  }

  /** Waits until every child is running and healthy. */
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    await waitFor("every child running and healthy", async () => {
      const children = await this.children();
      return children.length > 0 && children.every((c) => c.state === "running" && c.health?.ok);
    }, { timeoutMs, intervalMs: 250 });
  }

  /** Runs a supervisor control command (`kill order-executor`, `kill leader`, ...). */
  async control(command: string): Promise<string> {
    const response = await fetch(`${this.supervisorUrl}/control`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ command }),
    });
    const body = await response.json() as { ok: boolean; output: string };
    if (!body.ok) throw new Error(`Control command "${command}" failed: ${body.output}`);
    return body.output;
  }

  /** SIGKILLs `name` (or `leader`) and waits until the supervisor restarted it and it is healthy. */
  async killAndAwaitRestart(name: string, timeoutMs = 60_000): Promise<void> {
    const before = await this.children();
    await this.control(`kill ${name}`);
    await waitFor(`${name} restarted`, async () => {
      const after = await this.children();
      return after.some((c) => c.restarts > (before.find((b) => b.name === c.name)?.restarts ?? 0));
    }, { timeoutMs, intervalMs: 100 });
    await this.waitHealthy(timeoutMs);
  }

  /** The resident memory of the three services, MB (from their /metrics). */
  async servicesRssMb(): Promise<number> {
    let bytes = 0;
    for (const port of [8083, 8084, 8085]) {
      const response = await fetch(`http://127.0.0.1:${port + this.offset}/metrics`);
      const line = (await response.text()).split("\n").find((l) =>
        l.startsWith("process_resident_memory_bytes")
      );
      bytes += Number(line?.split(" ").at(-1) ?? 0);
    }
    return Math.round(bytes / 1024 / 1024);
  }

  /** The ingestor's status. */
  ingestorStatus(): Promise<IngestorStatus> {
    return unary(this.#ingestor, this.#ingestor.getStatus, {});
  }

  /** Sets the synthetic feed's rate. */
  setRate(ticksPerSecond: number): Promise<IngestorStatus> {
    return unary(this.#ingestor, this.#ingestor.setRate, { ticksPerSecond });
  }

  /** Pauses the feed. */
  pause(): Promise<IngestorStatus> {
    return unary(this.#ingestor, this.#ingestor.pause, {});
  }

  /** Resumes the feed. */
  resume(): Promise<IngestorStatus> {
    return unary(this.#ingestor, this.#ingestor.resume, {});
  }

  /** Stops everything (SIGTERM, then SIGKILL after 20 s) and waits for the supervisor. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#ingestor.close();
    try {
      this.#process.kill("SIGTERM");
    } catch { /* gone */ }
    const timer = setTimeout(() => {
      try {
        this.#process.kill("SIGKILL");
      } catch { /* gone */ }
    }, 20_000);
    await this.#process.status;
    clearTimeout(timer);
    await this.#collecting;
  }
}
