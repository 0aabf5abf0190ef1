/**
 * The pure part of `deno task compat:librdkafka`: reads librdkafka's test list out of
 * `tests/test.c`, reads the summary table that librdkafka's `test-runner` prints, decides what
 * each test's outcome is (with the reasons for the ones that cannot apply to one embedded
 * broker), and renders the pass / fail table. Kept apart from the script so that it is tested
 * without a compiler, the Debian source or a broker.
 *
 * @module
 */

/** One entry of the `tests[]` array of librdkafka's `tests/test.c`. */
export interface LibrdkafkaTest {
  /** The name in our table: librdkafka's, with `[sub-test]` for a split test. */
  name: string;
  /** The name test-runner prints, e.g. `0045_subscribe_update_mock`. */
  runnerName: string;
  /** For a split test: the `SUBTESTS=` filter (a sub-test function name) this row runs. */
  subtest?: string;
  /** The four-digit number that `TESTS=` matches (several tests can share one). */
  number: string;
  /** Runs without a broker (`TEST_F_LOCAL`). */
  local: boolean;
  /** Marked `TEST_F_KNOWN_ISSUE` (librdkafka skips it by default). */
  knownIssue: boolean;
  /** Marked `TEST_F_MANUAL` (never run unless named). */
  manual: boolean;
  /** Needs librdkafka's socket emulation (`TEST_F_SOCKEM`, client-side only). */
  sockem: boolean;
  /** The `.scenario` it requires ("default" when none is given). */
  scenarios: string[];
}

/**
 * Reads the test list from the text of `tests/test.c`: every `_TEST(name, flags, ...)` in
 * `struct test tests[]`. Throws when the array is not found, so that a changed test.c fails
 * loudly instead of running nothing.
 */
export function parseTestList(testC: string): LibrdkafkaTest[] {
  const start = testC.indexOf("struct test tests[] = {");
  if (start < 0) throw new Error("test.c has no `struct test tests[] = {` array");
  const end = testC.indexOf("{NULL}", start);
  if (end < 0) throw new Error("test.c's tests[] array has no `{NULL}` terminator");
  const body = testC.slice(start, end).replace(/\/\*[\s\S]*?\*\//g, "");
  const tests: LibrdkafkaTest[] = [];
  const entry = /_TEST\(\s*(\d{4})_(\w+)\s*,([^()]*(?:\([^()]*\)[^()]*)*)\)/g;
  for (const match of body.matchAll(entry)) {
    const [, number, rest, args] = match as unknown as [string, string, string, string];
    const scenario = /\.scenario\s*=\s*"([^"]*)"/.exec(args)?.[1];
    tests.push({
      name: `${number}_${rest}`,
      runnerName: `${number}_${rest}`,
      number,
      local: /TEST_F_LOCAL/.test(args),
      knownIssue: /TEST_F_KNOWN_ISSUE\b(?!_)/.test(args),
      manual: /TEST_F_MANUAL/.test(args),
      sockem: /TEST_F_SOCKEM/.test(args),
      scenarios: scenario === undefined ? ["default"] : scenario.split(","),
    });
  }
  if (tests.length === 0) throw new Error("test.c's tests[] array lists no _TEST() entries");
  return tests;
}

/**
 * Tests judged sub-test by sub-test: one `test-runner` per `SUBTESTS=` value, in full mode (a
 * quick run skips most of them). 0081_admin tests every Admin API in one process that stops at
 * the first failure, so one unsupported API would hide the result of all that follow it.
 */
export const SUBTEST_SPLITS: Readonly<Record<string, readonly string[]>> = {
  "0081_admin": [
    "CreateTopics",
    "DeleteTopics",
    "CreatePartitions",
    "CreateAcls",
    "DescribeAcls",
    "DeleteAcls",
    "AlterConfigs",
    "DescribeConfigs",
    "DeleteRecords",
    "ListConsumerGroups",
    "DescribeConsumerGroups",
    "DeleteGroups",
    "DeleteConsumerGroupOffsets",
    "AlterConsumerGroupOffsets",
    "ListConsumerGroupOffsets",
  ],
};

/** Replaces each split test by one row per sub-test, `0081_admin[CreateTopics]`. */
export function expandSplits(
  tests: readonly LibrdkafkaTest[],
  splits: Readonly<Record<string, readonly string[]>> = SUBTEST_SPLITS,
): LibrdkafkaTest[] {
  return tests.flatMap((test) =>
    (splits[test.name] ?? [undefined]).map((subtest) =>
      subtest === undefined ? test : { ...test, name: `${test.name}[${subtest}]`, subtest }
    )
  );
}

/** A test's state as librdkafka's summary prints it. */
export type RunnerState = "PASSED" | "FAILED" | "SKIPPED" | "RUNNING" | "DNS";

/** One row of the summary table that `test-runner` prints at exit. */
export interface SummaryRow {
  name: string;
  state: RunnerState;
  seconds: number;
  /** The failure or skip reason printed after the row, if any. */
  reason: string;
}

// deno-lint-ignore no-control-regex -- test-runner colours its output with ANSI escapes
const ANSI = /\x1b\[[0-9;]*m/g;
const ROW = /^\|\s*(\S+)\s*\|\s*(PASSED|FAILED|SKIPPED|RUNNING|DNS)\s*\|\s*([\d.]+)s\s*\|(.*)$/;

/**
 * Reads the summary rows (`| 0001_multiobj | PASSED | 0.050s |`) out of `test-runner`
 * output, colours stripped; the `<MAIN>` row is left out.
 */
export function parseSummary(output: string): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const raw of output.split("\n")) {
    const m = ROW.exec(raw.replace(ANSI, "").trimEnd());
    if (!m) continue;
    const [, name, state, seconds, reason] = m as unknown as [
      string,
      string,
      RunnerState,
      string,
      string,
    ];
    if (name === "<MAIN>") continue;
    rows.push({ name, state, seconds: Number(seconds), reason: reason.trim() });
  }
  return rows;
}

/**
 * The first `TEST FAILURE` message of a test in `test-runner` output (the line after
 * `### Test "<name>" failed at ...`), for the table when the runner aborted before its summary.
 */
export function firstFailure(output: string, name: string): string | undefined {
  const lines = output.replace(ANSI, "").split("\n");
  // A sub-test's failure names it after the test: `### Test "0081_admin (do_test_X:12)" failed`.
  const at = lines.findIndex((l) =>
    l.startsWith(`### Test "${name}" failed at`) || l.startsWith(`### Test "${name} (`)
  );
  if (at < 0) return undefined;
  const where = /failed at ([^:\s]+)/.exec(lines[at] ?? "")?.[1];
  const message = (lines[at + 1] ?? "").trim();
  return where === undefined ? message : `${message} (${where})`;
}

/** The outcome of one test in the compatibility run. */
export type Outcome = "pass" | "fail" | "timeout" | "skipped" | "not-applicable";

/** One row of the final table. */
export interface ResultRow {
  name: string;
  outcome: Outcome;
  seconds: number;
  /** Failure message, skip reason or the not-applicable reason. */
  detail: string;
}

/**
 * Tests that need a broker but cannot apply to one embedded broker, with the reason. They are
 * not run (`--all` runs them anyway). Every entry names what the test needs that a single
 * plaintext broker cannot be.
 */
const RF3 =
  "creates its topics with replication factor 3, which only a cluster of three brokers accepts";
const ACLS =
  "ACLs: Kafka serves them only with an authorizer (authorizer.class.name); the broker " +
  "has no authentication or authorizer";
const KAFKA_TOOLS = "runs Kafka's own command-line tools from KAFKA_PATH";

export const NOT_APPLICABLE: Readonly<Record<string, string>> = {
  "0052_msg_timestamps": `${KAFKA_TOOLS} (kafka-topics.sh --zookeeper, ZK_ADDRESS) to create ` +
    "topics with message.timestamp.type=LogAppendTime",
  "0077_compaction": `${KAFKA_TOOLS} (kafka-topics.sh --zookeeper) and log compaction ` +
    "(cleanup.policy=compact), which the broker does not do",
  "0081_admin[CreateAcls]": ACLS,
  "0081_admin[DescribeAcls]": ACLS,
  "0081_admin[DeleteAcls]": ACLS,
  "0098_consumer_txn": `${RF3}, and a Java producer (TransactionProducerCli) from KAFKA_PATH`,
  "0101_fetch_from_follower": `${RF3}, with racks (follower fetching, KIP-392)`,
  "0103_transactions": RF3,
  "0107_topic_recreate": RF3,
  "0109_auto_create_topics": `${KAFKA_TOOLS} (kafka-acls.sh) to deny a topic: ${ACLS}`,
  "0111_delay_create_topics": RF3,
  "0115_producer_auth": `${KAFKA_TOOLS} (kafka-acls.sh): ${ACLS}`,
  "0119_consumer_auth": `${KAFKA_TOOLS} (kafka-acls.sh): ${ACLS}`,
};

/**
 * Decides each test's outcome from the output of the `test-runner` process that ran it
 * (`runs`, keyed by `runKey(test)`: the test number by default; several tests share one). A
 * test missing from its summary was cut short: `timeout` when its process was killed, `fail`
 * (with the failure message found in the output) when the runner aborted. A test with no run
 * is not applicable, with its reason from `notApplicable`.
 */
export function decideOutcomes(
  tests: readonly LibrdkafkaTest[],
  runs: ReadonlyMap<string, { output: string; timedOut: boolean }>,
  notApplicable: Readonly<Record<string, string>> = NOT_APPLICABLE,
  runKey: (test: LibrdkafkaTest) => string = (test) => test.number,
): ResultRow[] {
  return tests.map((test): ResultRow => {
    const reason = notApplicable[test.name];
    const run = runs.get(runKey(test));
    if (run === undefined) {
      return { name: test.name, outcome: "not-applicable", seconds: 0, detail: reason ?? "" };
    }
    const row = outcomeOfRun(test, run);
    // A not-applicable test that shares its number with tests that apply ran too; its own
    // result counts only when it passed.
    if (reason !== undefined && row.outcome !== "pass") {
      return { name: test.name, outcome: "not-applicable", seconds: 0, detail: reason };
    }
    return row;
  });
}

function outcomeOfRun(
  test: LibrdkafkaTest,
  run: { output: string; timedOut: boolean },
): ResultRow {
  const row = parseSummary(run.output).find((r) => r.name === test.runnerName);
  if (row === undefined || row.state === "RUNNING" || row.state === "DNS") {
    if (run.timedOut) {
      return { name: test.name, outcome: "timeout", seconds: 0, detail: "killed at the timeout" };
    }
    const failure = firstFailure(run.output, test.runnerName) ??
      firstFailure(run.output, "<MAIN>");
    return {
      name: test.name,
      outcome: "fail",
      seconds: row?.seconds ?? 0,
      detail: failure ?? "test-runner exited without a summary row",
    };
  }
  if (row.state === "PASSED") {
    // A SUBTESTS= filter that matched nothing passes the test without running anything.
    if (test.subtest !== undefined && !run.output.includes(`[ do_test_${test.subtest}:`)) {
      return { name: test.name, outcome: "skipped", seconds: 0, detail: "no sub-test ran" };
    }
    return { name: test.name, outcome: "pass", seconds: row.seconds, detail: "" };
  }
  if (row.state === "SKIPPED") {
    return { name: test.name, outcome: "skipped", seconds: 0, detail: row.reason };
  }
  return { name: test.name, outcome: "fail", seconds: row.seconds, detail: row.reason };
}

/** Counts of each outcome. */
export function countOutcomes(rows: readonly ResultRow[]): Record<Outcome, number> {
  const counts: Record<Outcome, number> = {
    pass: 0,
    fail: 0,
    timeout: 0,
    skipped: 0,
    "not-applicable": 0,
  };
  for (const row of rows) counts[row.outcome]++;
  return counts;
}

/** Renders the rows as a Markdown table followed by a one-line total. */
export function renderTable(rows: readonly ResultRow[]): string {
  const cell = (s: string) => s.replaceAll("|", "\\|").replaceAll("\n", " ");
  const lines = [
    "| test | outcome | seconds | detail |",
    "| ---- | ------- | ------- | ------ |",
    ...rows.map((r) =>
      `| ${r.name} | ${r.outcome} | ${r.seconds.toFixed(3)} | ${cell(r.detail)} |`
    ),
  ];
  const c = countOutcomes(rows);
  lines.push(
    "",
    `${c.pass} passed, ${c.fail} failed, ${c.timeout} timed out, ${c.skipped} skipped by ` +
      `librdkafka, ${c["not-applicable"]} not applicable to one broker`,
  );
  return lines.join("\n");
}
