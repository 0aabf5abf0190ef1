/**
 * `deno task demo [--seed S] [--json] [--log FILE]` (also scripts/demo.sh): the failure
 * scenarios end to end. Starts the whole pipeline on free ports with its own data, runs the
 * six chaos scenarios in turn (chaos/scenarios), then the verifier over everything, and prints
 * a summary table: scenario, faults, orders, duplicates, lost, recovery time. On a terminal a
 * progress line shows what is happening and each scenario's timeline is printed; piped, the
 * output is one JSON object per scenario and one for the summary. Exit 1 on any duplicate,
 * lost order or failed check, 2 on bad arguments.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Progress } from "@trading/shared/progress";
import { tempDir } from "@trading/testing";
import { SupervisedPipeline } from "@trading/testing/supervised-pipeline";
import { chaosPipelineEnv } from "../chaos/pipeline_env.ts";
import { RaftProbe } from "../chaos/raft_probe.ts";
import { formatReport, quantile, runScenario, type ScenarioReport } from "../chaos/scenario.ts";
import { SCENARIOS } from "../chaos/scenarios/mod.ts";

const USAGE = "Usage: deno task demo [--seed S] [--json] [--log FILE]";

/** Parses the arguments; throws one sentence naming a bad one. */
export function demoArgs(args: string[]): { seed: number; json: boolean; log?: string } {
  const { values } = parseArgs({
    args,
    options: {
      seed: { type: "string", default: "1" },
      json: { type: "boolean", default: false },
      log: { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (!/^\d{1,9}$/.test(values.seed)) {
    throw new Error(`Invalid --seed "${values.seed}": expected an integer 0-999999999`);
  }
  return {
    seed: Number(values.seed),
    json: values.json,
    ...(values.log === undefined ? {} : { log: values.log }),
  };
}

/** The summary table: one row per scenario. */
export function summaryTable(reports: readonly ScenarioReport[]): string {
  const recovery = (values: ReadonlyArray<number | null>) => {
    const known = values.filter((v): v is number => v !== null);
    if (known.length === 0) return "-";
    return known.length === 1
      ? `${known[0]} ms`
      : `p50 ${quantile(known, 0.5)} ms, max ${Math.max(...known)} ms`;
  };
  const header = ["SCENARIO", "FAULTS", "ORDERS", "DUPLICATES", "LOST", "RECOVERY", "RESULT"];
  const rows = reports.map((r) => [
    `${r.id} ${r.name}`,
    String(r.faults),
    String(r.orders),
    String(r.duplicates),
    String(r.lost),
    recovery(r.recoveryMs),
    r.ok ? "ok" : "FAILED",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  return [header, ...rows].map((row) =>
    row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()
  )
    .join("\n");
}

/** Runs the demo; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = demoArgs(argv);
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const terminal = !args.json && Deno.stdout.isTerminal();
  const print = (text: string) => {
    if (!args.json) console.log(text);
  };
  const progress = new Progress("demo", "orders", {
    enabled: terminal && Deno.stderr.isTerminal(),
  });
  const say = (text: string) => progress.detail(text);
  await using dir = await tempDir("trading-demo-");
  const log = args.log ?? await Deno.makeTempFile({ prefix: "trading-demo-", suffix: ".log" });
  print(`Fault-tolerance demo, seed ${args.seed}: ${SCENARIOS.length} scenarios on one pipeline`);
  print(`pipeline output: ${log}`);
  say("starting the pipeline (broker, 3 raft nodes, ingestor, processor, executor)");
  await using pipeline = await SupervisedPipeline.start({
    dataDir: dir.path,
    env: chaosPipelineEnv(dir.path),
    logFile: log,
  });
  let ordersBefore = (await pipeline.verify(30)).uniqueOrderIds;
  const reports: ScenarioReport[] = [];
  let seen = 0;
  for (const scenario of SCENARIOS) {
    say(`scenario ${scenario.id}: ${scenario.title}`);
    const base = seen;
    const report = await runScenario(pipeline, scenario, {
      seed: args.seed,
      ordersBefore,
      say: (text) => say(`scenario ${scenario.id}: ${text}`),
      onFigures: ({ orders }) => {
        seen = base + orders;
        progress.set(seen);
      },
      replay: `deno task demo --seed ${args.seed}`,
    });
    ordersBefore += report.orders;
    reports.push(report);
    progress.done();
    if (args.json) console.log(JSON.stringify({ type: "scenario", ...report, verify: undefined }));
    else print(`\n${formatReport(report)}`);
  }

  say("pausing the feed and running the verifier over the whole run");
  const probe = RaftProbe.start({
    nodes: pipeline.raftNodes.map((n) => ({ id: n.id, addr: n.grpcAddr })),
    load: null,
    brokers: null,
  }, { clusterSecret: pipeline.clusterSecret });
  let verify;
  try {
    await probe.feed(pipeline.ingestorAddr, "pause");
    verify = await pipeline.verify(180);
  } finally {
    await probe.stop().catch(() => {});
  }
  say("stopping the pipeline");
  await pipeline.stop();
  progress.done();

  const failovers = reports.flatMap((r) => r.failoverMs).filter((v): v is number => v !== null);
  const ok = verify.ok && verify.duplicates === 0 && verify.lost === 0 &&
    reports.every((r) => r.ok);
  if (args.json) {
    console.log(JSON.stringify({
      type: "summary",
      seed: args.seed,
      ok,
      orders: verify.uniqueOrderIds,
      duplicates: verify.duplicates,
      lost: verify.lost,
      failover_p50_ms: quantile(failovers, 0.5),
      failover_p99_ms: quantile(failovers, 0.99),
      scenarios: reports.map((r) => ({ id: r.id, name: r.name, ok: r.ok })),
    }));
  } else {
    print(`\n${summaryTable(reports)}`);
    if (failovers.length > 0) {
      print(
        `\nleader failover (SIGKILL to the next accepted order) over ${failovers.length} kills: p50 ${
          quantile(failovers, 0.5)
        } ms, p99 ${quantile(failovers, 0.99)} ms`,
      );
    }
    print(
      `verifier over the whole run: ${verify.uniqueOrderIds} orders, ${verify.duplicates} duplicates, ${verify.lost} lost${
        verify.complete ? "" : " (NOT read to the end)"
      }`,
    );
    print(
      ok
        ? "OK: every order has exactly one event"
        : `FAILED (replay: deno task demo --seed ${args.seed})`,
    );
  }
  return ok ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
