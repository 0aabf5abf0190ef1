/**
 * The pipeline benchmark (`deno task bench pipeline`): the whole pipeline under the
 * supervisor on this machine (embedded broker, three raft-nodes, the three services), fed by
 * the synthetic market at fixed rates. For each rate it measures the end-to-end latency of
 * the orders whose tick was created inside a measurement window (tick created to event
 * created, the verifier's figure), whether every such order got its event within a grace
 * period, and the rate the ingestor actually reached; then it steps the rate up until p99
 * reaches 100 ms or the pipeline falls behind, and reports the highest sustained rate.
 *
 * Arguments: `--window=<s>` (measurement window, default 10, 4 with --quick),
 * `--rates=1000,2000,...` (the steps of the ceiling search), `--flush=sync|interval` (the
 * broker's flush mode, default sync as in `deno task up`).
 *
 * @module
 */
import { createKafka, TOPICS } from "@trading/shared/kafka";
import { resetLogging, setupLogging } from "@trading/shared/log";
import { sleep } from "@trading/shared/retry";
import { tempDir } from "@trading/testing";
import { decodeEvent } from "@trading/shared/event-schema";
import { decodeCommand } from "@trading/shared/command-schema";
import { nowUs } from "@trading/shared/now-us";
import { PartitionReader } from "@trading/shared/partition-reader";
import { SupervisedPipeline } from "@trading/testing/supervised-pipeline";
import { type BenchOptions, type BenchResult, percentile, round } from "./types.ts";

/** Follows orders.commands and orders.events from the start and indexes them by tick time. */
class OrderFollower {
  /** Order id to tick creation time (µs). */
  readonly commands = new Map<string, number>();
  /** Order id to [tick created, event created] (µs), first event only. */
  readonly events = new Map<string, [number, number]>();
  #stop = new AbortController();
  #running: Promise<void>[] = [];

  static async start(brokers: string): Promise<OrderFollower> {
    const follower = new OrderFollower();
    const kafka = createKafka({ clientId: "bench-follower", brokers: [brokers] });
    for (const topic of [TOPICS.commands, TOPICS.events]) {
      const reader = await PartitionReader.connect(kafka);
      const positions = new Map((await reader.offsets(topic)).map((o) => [o.partition, o.low]));
      follower.#running.push(follower.#follow(reader, topic, positions));
    }
    return follower;
  }

  async #follow(
    reader: PartitionReader,
    topic: string,
    positions: Map<number, number>,
  ): Promise<void> {
    try {
      while (!this.#stop.signal.aborted) {
        const { records } = await reader.fetchMany(topic, positions, { maxWaitMs: 200 });
        for (const record of records) {
          positions.set(record.partition, record.offset + 1);
          try {
            if (topic === TOPICS.commands) {
              const command = decodeCommand(record.value);
              this.commands.set(command.orderId, command.tickCreatedAtUs);
            } else {
              const event = decodeEvent(record.value);
              if (!this.events.has(event.orderId)) {
                this.events.set(event.orderId, [event.tickCreatedAtUs, event.createdAtUs]);
              }
            }
          } catch {
            // Not ours to judge here: the verifier counts invalid messages.
          }
        }
      }
    } finally {
      await reader.close();
    }
  }

  /** Orders whose tick was created in [fromUs, toUs): ids with and without an event yet. */
  window(fromUs: number, toUs: number): { ids: string[]; answered: number; latenciesMs: number[] } {
    const ids = [...this.commands].filter(([, tick]) => tick >= fromUs && tick < toUs).map(([id]) =>
      id
    );
    const latenciesMs: number[] = [];
    for (const id of ids) {
      const event = this.events.get(id);
      if (event) latenciesMs.push((event[1] - event[0]) / 1000);
    }
    return { ids, answered: latenciesMs.length, latenciesMs };
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await Promise.all(this.#running);
  }
}

interface RateResult {
  rate: number;
  achieved: number;
  orders: number;
  answered: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

async function measureRate(
  pipeline: SupervisedPipeline,
  follower: OrderFollower,
  rate: number,
  windowS: number,
): Promise<RateResult> {
  await pipeline.setRate(rate);
  await pipeline.resume();
  await sleep(2000); // warm-up at the new rate
  const before = (await pipeline.ingestorStatus()).ticksPublished;
  const from = nowUs();
  await sleep(windowS * 1000);
  const to = nowUs();
  const published = (await pipeline.ingestorStatus()).ticksPublished - before;
  await pipeline.pause();
  // Grace: every order of the window should be answered within a few seconds.
  let window = follower.window(from, to);
  for (let i = 0; i < 50 && window.answered < window.ids.length; i++) {
    await sleep(100);
    window = follower.window(from, to);
  }
  const latencies = window.latenciesMs;
  return {
    rate,
    achieved: Math.round(published / ((to - from) / 1e6)),
    orders: window.ids.length,
    answered: window.answered,
    p50: round(percentile(latencies, 50)),
    p99: round(percentile(latencies, 99)),
    p999: round(percentile(latencies, 99.9)),
    max: round(percentile(latencies, 100)),
  };
}

function sustained(result: RateResult): boolean {
  return result.achieved >= result.rate * 0.95 && result.answered === result.orders &&
    result.p99 < 100;
}

/** Runs the pipeline suite. */
export async function run(options: BenchOptions): Promise<BenchResult[]> {
  const windowS = Number(options.args["window"] ?? (options.quick ? 4 : 10));
  const flush = options.args["flush"] ?? "sync";
  const rates = (options.args["rates"] ??
    (options.quick ? "1000,3000,5000" : "1000,2000,3000,5000,7500,10000,15000"))
    .split(",").map(Number);
  const command = [
    "deno task bench pipeline",
    options.quick ? "--quick" : "",
    ...Object.entries(options.args).map(([k, v]) => `--${k}=${v}`),
  ]
    .filter(Boolean).join(" ");
  const note = flush === "interval"
    ? "broker BROKER_FLUSH=interval (acks=-1 answered after the write, fsync on a timer)"
    : "broker BROKER_FLUSH=sync (the default: acks=-1 answered after the group-commit fsync)";
  await setupLogging("bench-pipeline", "error");
  await using dir = await tempDir("bench-pipeline-");
  options.progress("pipeline: starting broker, 3 raft-nodes and the services");
  await using pipeline = await SupervisedPipeline.start({
    dataDir: dir.path,
    env: { INGESTOR_RATE: "100", BROKER_FLUSH: flush, LOG_LEVEL: "warn" },
  });
  const follower = await OrderFollower.start(pipeline.brokers);
  const results: BenchResult[] = [];
  const params = (r: RateResult) => ({
    rate: r.rate,
    achieved_rate: r.achieved,
    window_s: windowS,
    orders: r.orders,
    answered: r.answered,
    flush,
  });
  try {
    for (const rate of [100, 1000]) {
      options.progress(`pipeline: latency at ${rate} ticks/s`);
      const r = await measureRate(pipeline, follower, rate, windowS);
      results.push({
        suite: "pipeline",
        case: `latency-${rate}-ticks-per-s`,
        msgs_per_s: r.achieved,
        p50_ms: r.p50,
        p99_ms: r.p99,
        p999_ms: r.p999,
        max_ms: r.max,
        params: params(r),
        command,
        note: `tick created -> event created, orders of the window; ${note}`,
      });
    }
    let best: RateResult | undefined;
    for (const rate of rates) {
      options.progress(`pipeline: ceiling search at ${rate} ticks/s`);
      const r = await measureRate(pipeline, follower, rate, windowS);
      const ok = sustained(r);
      results.push({
        suite: "pipeline",
        case: `step-${rate}-ticks-per-s${ok ? "" : "-not-sustained"}`,
        msgs_per_s: r.achieved,
        p50_ms: r.p50,
        p99_ms: r.p99,
        max_ms: r.max,
        params: params(r),
        command,
      });
      if (!ok) break;
      best = r;
      await sleep(2000); // let the pipeline drain before the next step
    }
    const rss = await pipeline.servicesRssMb();
    results.push({
      suite: "pipeline",
      case: "max-sustained-rate-p99-under-100ms",
      msgs_per_s: best?.achieved ?? 0,
      p50_ms: best?.p50 ?? 0,
      p99_ms: best?.p99 ?? 0,
      rss_mb: rss,
      params: { rate: best?.rate ?? 0, window_s: windowS, steps: rates.join("/"), flush },
      command,
      note:
        `highest step with the ingestor at >= 95% of the rate, every order of the window answered, p99 < 100 ms; rss_mb: the three services; ${note}`,
    });
  } finally {
    await follower.stop();
    await resetLogging();
  }
  return results;
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  const args = Object.fromEntries(
    Deno.args.filter((a) => a.startsWith("--") && a.includes("=")).map((a) =>
      a.slice(2).split("=", 2)
    ),
  );
  const results = await run({ quick, args, progress: (line) => console.error(line) });
  for (const r of results) console.log(JSON.stringify(r));
}
