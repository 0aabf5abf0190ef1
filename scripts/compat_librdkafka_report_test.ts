import assert from "node:assert/strict";
import {
  countOutcomes,
  decideOutcomes,
  expandSplits,
  firstFailure,
  parseSummary,
  parseTestList,
  renderTable,
} from "./compat_librdkafka_report.ts";

// An excerpt in the shape of librdkafka 2.0.2's tests/test.c.
const TEST_C = `
_TEST_DECL(0001_multiobj);
struct test tests[] = {
    /* Special MAIN test to hold over-all timings, etc. */
    {.name = "<MAIN>", .flags = TEST_F_LOCAL},
    _TEST(0000_unittests,
          TEST_F_LOCAL,
          /* The msgq insert order tests are heavy on (memory scan) */
          _THRES(.ucpu = 100.0, .scpu = 20.0, .rss = 900.0)),
    _TEST(0001_multiobj, 0),
    _TEST(0028_long_topicnames,
          TEST_F_KNOWN_ISSUE,
          TEST_BRKVER(0, 9, 0, 0),
          .extra = "https://github.com/edenhill/librdkafka/issues/529"),
    _TEST(0045_subscribe_update, 0, TEST_BRKVER(0, 9, 0, 0)),
    _TEST(0045_subscribe_update_topic_remove,
          0,
          TEST_BRKVER(0, 9, 0, 0),
          .scenario = "noautocreate"),
    _TEST(0055_producer_latency, TEST_F_KNOWN_ISSUE_WIN32),
#if WITH_SOCKEM
    _TEST(0068_produce_timeout, TEST_F_SOCKEM),
#endif
    _TEST(0103_transactions,
          0,
          TEST_BRKVER(0, 11, 0, 0),
          .scenario = "default,ak23"),
    _TEST(8000_idle, TEST_F_MANUAL),
    {NULL}};
`;

Deno.test("parseTestList() reads every _TEST entry with its flags and scenarios", () => {
  const tests = parseTestList(TEST_C);
  assert.deepEqual(tests.map((t) => t.name), [
    "0000_unittests",
    "0001_multiobj",
    "0028_long_topicnames",
    "0045_subscribe_update",
    "0045_subscribe_update_topic_remove",
    "0055_producer_latency",
    "0068_produce_timeout",
    "0103_transactions",
    "8000_idle",
  ]);
  const byName = new Map(tests.map((t) => [t.name, t]));
  assert.deepEqual(byName.get("0000_unittests")?.local, true);
  assert.deepEqual(byName.get("0001_multiobj")?.local, false);
  assert.deepEqual(byName.get("0028_long_topicnames")?.knownIssue, true);
  assert.deepEqual(byName.get("0055_producer_latency")?.knownIssue, false);
  assert.deepEqual(byName.get("0068_produce_timeout")?.sockem, true);
  assert.deepEqual(byName.get("8000_idle")?.manual, true);
  assert.deepEqual(byName.get("0045_subscribe_update")?.number, "0045");
  assert.deepEqual(byName.get("0045_subscribe_update")?.scenarios, ["default"]);
  assert.deepEqual(byName.get("0045_subscribe_update_topic_remove")?.scenarios, ["noautocreate"]);
  assert.deepEqual(byName.get("0103_transactions")?.scenarios, ["default", "ak23"]);
});

Deno.test("parseTestList() throws when test.c has no tests[] array", () => {
  assert.throws(() => parseTestList("int main() {}"), /struct test tests\[\]/);
});

const OUTPUT = [
  "\x1b[36m[0045_subscribe_update      /  1.000s] something\x1b[0m",
  "TEST 20261202201157 (bare, scenario default) SUMMARY",
  "#==================================================================#",
  "|\x1b[32m <MAIN>                                   |     PASSED |   0.200s \x1b[0m|",
  "|\x1b[32m 0045_subscribe_update                    |     PASSED |  12.050s \x1b[0m|",
  "|\x1b[31m 0045_subscribe_update_topic_remove       |     FAILED |   3.100s \x1b[0m|" +
  "\x1b[31m Expected topic to be removed\x1b[0m",
  "|\x1b[36m 0028_long_topicnames                     |    SKIPPED |   0.000s \x1b[0m|" +
  "\x1b[36m Filtered due to negative test flags\x1b[0m",
  "#==================================================================#",
].join("\n");

Deno.test("parseSummary() reads the rows without colours and leaves <MAIN> out", () => {
  assert.deepEqual(parseSummary(OUTPUT), [
    { name: "0045_subscribe_update", state: "PASSED", seconds: 12.05, reason: "" },
    {
      name: "0045_subscribe_update_topic_remove",
      state: "FAILED",
      seconds: 3.1,
      reason: "Expected topic to be removed",
    },
    {
      name: "0028_long_topicnames",
      state: "SKIPPED",
      seconds: 0,
      reason: "Filtered due to negative test flags",
    },
  ]);
});

const ABORTED = [
  "[0012_produce_consume        /  0.003s] Start produce to partition 0: msgs #0..50",
  "[0012_produce_consume        /  0.006s] TEST FAILURE",
  '### Test "0012_produce_consume" failed at 0012-produce_consume.c:57:dr_cb() at Wed Dec  2 ###',
  "Message delivery failed: Local: Unknown partition",
  "test-runner: test.c:6716: test_fail0: Assertion `0' failed.",
].join("\n");

Deno.test("firstFailure() returns the message after the failure line, with its file", () => {
  assert.deepEqual(
    firstFailure(ABORTED, "0012_produce_consume"),
    "Message delivery failed: Local: Unknown partition (0012-produce_consume.c)",
  );
  assert.deepEqual(firstFailure(ABORTED, "0001_multiobj"), undefined);
  const sub =
    '### Test "0081_admin (do_test_CreateAcls:1115)" failed at 0081-admin.c:1180:x() ###\n' +
    "Expected success, not _UNSUPPORTED_FEATURE\n";
  assert.deepEqual(
    firstFailure(sub, "0081_admin"),
    "Expected success, not _UNSUPPORTED_FEATURE (0081-admin.c)",
  );
});

Deno.test("decideOutcomes() maps summaries, aborts, timeouts and tests not run", () => {
  const tests = parseTestList(TEST_C).filter((t) =>
    ["0012", "0045", "0028", "0068", "0103"].includes(t.number)
  );
  const twelve = {
    ...tests[0]!,
    name: "0012_produce_consume",
    runnerName: "0012_produce_consume",
    number: "0012",
  };
  const rows = decideOutcomes(
    [twelve, ...tests],
    new Map([
      ["0012", { output: ABORTED, timedOut: false }],
      ["0045", { output: OUTPUT, timedOut: false }],
      ["0028", { output: OUTPUT, timedOut: false }],
      ["0068", { output: "[0068_produce_timeout / 1s] hanging", timedOut: true }],
    ]),
    { "0103_transactions": "needs transactions" },
  );
  assert.deepEqual(rows.map((r) => [r.name, r.outcome, r.detail]), [
    [
      "0012_produce_consume",
      "fail",
      "Message delivery failed: Local: Unknown partition (0012-produce_consume.c)",
    ],
    ["0028_long_topicnames", "skipped", "Filtered due to negative test flags"],
    ["0045_subscribe_update", "pass", ""],
    ["0045_subscribe_update_topic_remove", "fail", "Expected topic to be removed"],
    ["0068_produce_timeout", "timeout", "killed at the timeout"],
    ["0103_transactions", "not-applicable", "needs transactions"],
  ]);
  assert.deepEqual(countOutcomes(rows), {
    pass: 1,
    fail: 2,
    timeout: 1,
    skipped: 1,
    "not-applicable": 1,
  });
});

Deno.test("renderTable() escapes pipes in details and ends with the totals", () => {
  const table = renderTable([
    { name: "0001_multiobj", outcome: "pass", seconds: 0.05, detail: "" },
    { name: "0002_unkpart", outcome: "fail", seconds: 1, detail: "a | b" },
  ]);
  const lines = table.split("\n");
  assert.deepEqual(lines[2], "| 0001_multiobj | pass | 0.050 |  |");
  assert.deepEqual(lines[3], "| 0002_unkpart | fail | 1.000 | a \\| b |");
  assert.deepEqual(
    lines.at(-1),
    "1 passed, 1 failed, 0 timed out, 0 skipped by librdkafka, 0 not applicable to one broker",
  );
});

Deno.test("expandSplits() gives each sub-test of a split test its own row", () => {
  const tests = expandSplits(parseTestList(TEST_C), { "0001_multiobj": ["A", "B"] });
  const rows = tests.filter((t) => t.number === "0001");
  assert.deepEqual(rows.map((t) => [t.name, t.runnerName, t.subtest]), [
    ["0001_multiobj[A]", "0001_multiobj", "A"],
    ["0001_multiobj[B]", "0001_multiobj", "B"],
  ]);
});

Deno.test("decideOutcomes() counts a split row as skipped when its sub-test did not run", () => {
  const [a, b] = expandSplits(parseTestList(TEST_C), { "0001_multiobj": ["A", "B"] })
    .filter((t) => t.number === "0001");
  const summary = "| 0001_multiobj                            |     PASSED |   0.100s |";
  const rows = decideOutcomes(
    [a!, b!],
    new Map([
      ["A", {
        output: `[0001_multiobj / 0.0s] [ do_test_A:10: first ]\n${summary}`,
        timedOut: false,
      }],
      ["B", { output: summary, timedOut: false }],
    ]),
    {},
    (t) => t.subtest ?? "",
  );
  assert.deepEqual(rows.map((r) => [r.name, r.outcome]), [
    ["0001_multiobj[A]", "pass"],
    ["0001_multiobj[B]", "skipped"],
  ]);
});
