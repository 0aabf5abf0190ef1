/**
 * `deno task soak --seed S --minutes M [--json]`: the whole pipeline under a randomized
 * nemesis (chaos/soak.ts). Prints the schedule the seed gives before it starts, one line per
 * fault as it is healed, and at the end the faults injected by kind, orders, duplicates, lost,
 * leader failover and the liveness and linearizability checks. Exit 0 when every check
 * passed, 1 otherwise, 2 on bad arguments. The same seed gives the same schedule.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Progress } from "@trading/shared/progress";
import { tempDir } from "@trading/testing";
import { SupervisedPipeline } from "@trading/testing/supervised-pipeline";
import { chaosPipelineEnv } from "../chaos/pipeline_env.ts";
import { formatSoakReport, runSoak } from "../chaos/soak.ts";
import { formatSchedule, soakSchedule } from "../chaos/soak_schedule.ts";

const USAGE = "Usage: deno task soak --seed S --minutes M [--json] [--log FILE]";

/** Parses the arguments; throws one sentence naming a bad one. */
export function soakArgs(
  args: string[],
): { seed: number; minutes: number; json: boolean; log?: string } {
  const { values } = parseArgs({
    args,
    options: {
      seed: { type: "string" },
      minutes: { type: "string" },
      json: { type: "boolean", default: false },
      log: { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.seed === undefined || !/^\d{1,9}$/.test(values.seed)) {
    throw new Error(`Invalid --seed "${values.seed ?? ""}": expected an integer 0-999999999`);
  }
  const minutes = Number(values.minutes);
  if (!(minutes >= 1 && minutes <= 24 * 60)) {
    throw new Error(`Invalid --minutes "${values.minutes ?? ""}": expected minutes 1-1440`);
  }
  return {
    seed: Number(values.seed),
    minutes,
    json: values.json,
    ...(values.log === undefined ? {} : { log: values.log }),
  };
}

/** Runs the soak from the command line; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = soakArgs(argv);
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const schedule = soakSchedule(args.seed, args.minutes);
  console.log(`soak seed ${args.seed}, ${args.minutes} min: ${schedule.length} faults scheduled`);
  console.log(formatSchedule(schedule));
  await using dir = await tempDir("trading-soak-");
  const log = args.log ?? await Deno.makeTempFile({ prefix: "trading-soak-", suffix: ".log" });
  console.log(`pipeline output: ${log}`);
  const progress = new Progress("soak", "orders");
  const say = (text: string) => {
    if (progress.enabled) progress.detail(text);
    else console.error(text);
  };
  say("starting the pipeline");
  await using pipeline = await SupervisedPipeline.start({
    dataDir: dir.path,
    env: chaosPipelineEnv(dir.path),
    logFile: log,
  });
  const report = await runSoak(pipeline, {
    seed: args.seed,
    minutes: args.minutes,
    say,
    onFigures: ({ orders }) => progress.set(orders),
    onFault: (f, index, total, offsetMs) => {
      const line = `${String(index + 1).padStart(4)}/${total}  ${
        (offsetMs / 1000).toFixed(1).padStart(6)
      }s  ${f.fault.kind.padEnd(16)}  ${f.target.padEnd(16)}  healed after ${
        f.healedAt - f.injectedAt
      } ms${f.leaderExits > 0 ? `, ${f.leaderExits} leaders exited` : ""}`;
      if (progress.enabled) progress.done(line);
      else console.log(line);
    },
  });
  say("stopping the pipeline");
  await pipeline.stop();
  progress.done();
  console.log(args.json ? JSON.stringify(report) : formatSoakReport(report));
  return report.ok ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
