/**
 * `deno task test:chaos [--minutes N] [--seed S] [--scenario 1,4] [--kafka embedded|mock]`:
 * runs the chaos suite alone: scenarios 1 to 6 on one whole pipeline (chaos/scenarios_test.ts)
 * and scenario 7, the frozen executor, on the embedded broker (chaos/frozen_executor_test.ts)
 * and on librdkafka's 3-broker mock cluster (chaos/frozen_executor_mock_test.ts); `--kafka`
 * keeps one of the two. Without `--minutes` it is the quick mode that `deno task test` runs;
 * with it, the long mode: each scenario repeats its faults for its share of the N minutes. A
 * failing scenario prints this same command with its seed, to replay it.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const USAGE =
  "Usage: deno task test:chaos [--minutes N] [--seed S] [--scenario 1,2,...] [--kafka embedded|mock]";
/** The suite's files, and the Kafka each runs on. */
const FILES = [
  { file: "chaos/scenarios_test.ts", kafka: "embedded" },
  { file: "chaos/frozen_executor_test.ts", kafka: "embedded" },
  { file: "chaos/frozen_executor_mock_test.ts", kafka: "mock" },
];

/** The test files that run on the Kafka `env` selects (CHAOS_KAFKA; all of them when unset). */
export function chaosTestFiles(env: Record<string, string>): string[] {
  return FILES.filter((f) => !env.CHAOS_KAFKA || f.kafka === env.CHAOS_KAFKA).map((f) => f.file);
}

/** Parses the arguments into the suite's environment; throws one sentence on a bad one. */
export function chaosTestEnv(args: string[]): Record<string, string> {
  const { values } = parseArgs({
    args,
    options: {
      minutes: { type: "string" },
      seed: { type: "string" },
      scenario: { type: "string" },
      kafka: { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  const env: Record<string, string> = {};
  if (values.minutes !== undefined) {
    const minutes = Number(values.minutes);
    if (!(minutes > 0 && minutes <= 24 * 60)) {
      throw new Error(`Invalid --minutes "${values.minutes}": expected a number of minutes 0-1440`);
    }
    env.TEST_MODE = "long";
    env.CHAOS_MINUTES = String(minutes);
  }
  if (values.seed !== undefined) {
    if (!/^\d{1,9}$/.test(values.seed)) {
      throw new Error(`Invalid --seed "${values.seed}": expected an integer 0-999999999`);
    }
    env.CHAOS_SEED = values.seed;
  }
  if (values.scenario !== undefined) {
    if (!/^[1-7](,[1-7])*$/.test(values.scenario)) {
      throw new Error(`Invalid --scenario "${values.scenario}": expected ids 1-7, comma separated`);
    }
    env.CHAOS_SCENARIOS = values.scenario;
  }
  if (values.kafka !== undefined) {
    if (values.kafka !== "embedded" && values.kafka !== "mock") {
      throw new Error(`Invalid --kafka "${values.kafka}": expected embedded or mock`);
    }
    env.CHAOS_KAFKA = values.kafka;
  }
  return env;
}

if (import.meta.main) {
  let env: Record<string, string>;
  try {
    env = chaosTestEnv(Deno.args);
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    Deno.exit(2);
  }
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--frozen", ...chaosTestFiles(env)],
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  Deno.exit(code);
}
