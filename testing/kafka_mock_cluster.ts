/**
 * A Kafka cluster that nobody here wrote, for tests: librdkafka's in-memory mock cluster
 * (several brokers with ids 1..N on ephemeral loopback ports, partition leaders spread over
 * them), run by ./kafka_mock_cluster.py with Debian's librdkafka (python3-confluent-kafka's
 * library). The test can move a partition's leader and take a broker down while it runs.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { DEBIAN_PYTHON, requireTestTool } from "./test_tools.ts";

const SCRIPT = fileURLToPath(new URL("./kafka_mock_cluster.py", import.meta.url));

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffered = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
    }
  }
}

/** Options of {@linkcode KafkaMockCluster.start}. */
export interface KafkaMockClusterOptions {
  /** Number of brokers (ids 1..brokers). Default 3. */
  brokers?: number;
  /** Topics to create, name to partition count (replication factor min(3, brokers)). */
  topics?: Record<string, number>;
}

/**
 * A running mock cluster; `await using` stops it (closing its stdin ends the process).
 *
 * @example
 * ```ts
 * await using cluster = await KafkaMockCluster.start({ topics: { "t": 3 } });
 * await cluster.moveLeader("t", 0, 2);
 * ```
 */
export class KafkaMockCluster implements AsyncDisposable {
  /** The bootstrap list, `host:port,host:port,...`, one entry per broker. */
  readonly bootstrap: string;
  readonly brokerIds: readonly number[];
  #process: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncGenerator<string>;
  #stderr: Promise<string>;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(
    bootstrap: string,
    process: Deno.ChildProcess,
    lines: AsyncGenerator<string>,
    stderr: Promise<string>,
  ) {
    this.bootstrap = bootstrap;
    this.brokerIds = bootstrap.split(",").map((_, i) => i + 1);
    this.#process = process;
    this.#writer = process.stdin.getWriter();
    this.#lines = lines;
    this.#stderr = stderr;
  }

  /** Starts the cluster, creates the topics, and resolves once it listens. */
  static async start(options: KafkaMockClusterOptions = {}): Promise<KafkaMockCluster> {
    await requireTestTool("confluent-kafka-python");
    const topics = Object.entries(options.topics ?? {}).map(([t, n]) => `${t}:${n}`);
    const process = new Deno.Command(DEBIAN_PYTHON, {
      args: [SCRIPT, String(options.brokers ?? 3), ...topics],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(process.stderr).text();
    const lines = readLines(process.stdout);
    const first = (await lines.next()).value ?? "";
    const match = first.match(/^bootstrap (\S+)$/);
    if (!match) {
      await process.stdin.close().catch(() => {});
      await process.status;
      throw new Error(
        `The mock Kafka cluster did not start: ${first} ${await stderr}`.trim(),
      );
    }
    return new KafkaMockCluster(match[1]!, process, lines, stderr);
  }

  async #command(line: string): Promise<void> {
    const run = this.#queue.then(async () => {
      await this.#writer.write(new TextEncoder().encode(`${line}\n`));
      const answer = (await this.#lines.next()).value ?? "";
      if (!answer.startsWith("ok ")) {
        throw new Error(
          `Mock cluster command "${line}" failed: ${answer || await this.#stderr}`,
        );
      }
    });
    this.#queue = run.catch(() => {});
    await run;
  }

  /** Makes `brokerId` the leader of `topic`/`partition`. */
  moveLeader(topic: string, partition: number, brokerId: number): Promise<void> {
    return this.#command(`leader ${topic} ${partition} ${brokerId}`);
  }

  /** Takes a broker's listener down (its connections are closed) or brings it back. */
  setBrokerUp(brokerId: number, up: boolean): Promise<void> {
    return this.#command(`${up ? "up" : "down"} ${brokerId}`);
  }

  /** Stops the cluster. Idempotent. */
  async stop(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#process.status;
    await this.#stderr.catch(() => "");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
