import assert from "node:assert/strict";
import { chaosTestEnv, chaosTestFiles } from "./test_chaos.ts";

Deno.test("chaosTestEnv() turns --minutes into the long mode and passes seed and scenarios", () => {
  assert.deepEqual(chaosTestEnv([]), {});
  assert.deepEqual(chaosTestEnv(["--minutes", "12", "--seed", "7", "--scenario", "2,4"]), {
    TEST_MODE: "long",
    CHAOS_MINUTES: "12",
    CHAOS_SEED: "7",
    CHAOS_SCENARIOS: "2,4",
  });
});

Deno.test("chaosTestEnv() rejects a bad value or an unknown option with one sentence", () => {
  assert.throws(() => chaosTestEnv(["--minutes", "soon"]), /^Error: Invalid --minutes "soon"/);
  assert.throws(() => chaosTestEnv(["--seed", "1.5"]), /Invalid --seed "1.5"/);
  assert.throws(
    () => chaosTestEnv(["--scenario", "8"]),
    /Invalid --scenario "8": expected ids 1-7/,
  );
  assert.throws(
    () => chaosTestEnv(["--kafka", "redpanda"]),
    /Invalid --kafka "redpanda": expected embedded or mock/,
  );
  assert.throws(() => chaosTestEnv(["--fast"]), /Unknown option '--fast'/);
});

Deno.test("chaosTestFiles() runs every file, or only those on the Kafka --kafka names", () => {
  assert.deepEqual(chaosTestFiles(chaosTestEnv([])), [
    "chaos/scenarios_test.ts",
    "chaos/frozen_executor_test.ts",
    "chaos/frozen_executor_mock_test.ts",
  ]);
  assert.deepEqual(chaosTestFiles(chaosTestEnv(["--scenario", "7", "--kafka", "mock"])), [
    "chaos/frozen_executor_mock_test.ts",
  ]);
  assert.deepEqual(chaosTestFiles(chaosTestEnv(["--kafka=embedded"])), [
    "chaos/scenarios_test.ts",
    "chaos/frozen_executor_test.ts",
  ]);
});
