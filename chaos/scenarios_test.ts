// The six chaos scenarios of issue 6 on one whole pipeline (`main.ts up` on free ports with a
// temporary data directory), one test step each, with fixed seeds. Each step prints its
// timeline and ends with the verifier (0 duplicates, 0 lost); the Raft-level ones also check
// their Apply/Read history for linearizability and every acknowledged Apply.
//
// Quick by default (inside `deno task test`). Long: TEST_MODE=long (CHAOS_MINUTES, default 6,
// split over the scenarios), or `deno task test:chaos --minutes N`. CHAOS_SEED picks the seed
// (default 1), CHAOS_SCENARIOS a comma list of ids (default all), CHAOS_LOG_FILE a file that
// keeps the whole pipeline's output.
import assert from "node:assert/strict";
import { longMode, tempDir } from "@trading/testing";
import { SupervisedPipeline } from "@trading/testing/supervised-pipeline";
import { chaosPipelineEnv } from "./pipeline_env.ts";
import { RaftProbe } from "./raft_probe.ts";
import { formatReport, quantile, runScenario, type ScenarioReport } from "./scenario.ts";
import { SCENARIOS } from "./scenarios/mod.ts";

const seed = Number(Deno.env.get("CHAOS_SEED") ?? "1");
const selected = (Deno.env.get("CHAOS_SCENARIOS") ?? "").split(",").filter((s) => s !== "")
  .map(Number);
const scenarios = SCENARIOS.filter((s) => selected.length === 0 || selected.includes(s.id));
const long = longMode();
const minutes = Number(Deno.env.get("CHAOS_MINUTES") ?? "6");

Deno.test({
  name: `chaos scenarios ${scenarios.map((s) => s.id).join(",")} on one pipeline (seed ${seed}${
    long ? `, long: ${minutes} min` : ""
  })`,
  // `--scenario 7` alone: scenario 7 is chaos/frozen_executor_test.ts.
  ignore: scenarios.length === 0,
}, async (t) => {
  await using dir = await tempDir("trading-chaos-");
  await using pipeline = await SupervisedPipeline.start({
    dataDir: dir.path,
    env: chaosPipelineEnv(dir.path),
    logFile: Deno.env.get("CHAOS_LOG_FILE"),
  });
  const reports: ScenarioReport[] = [];
  let ordersBefore = (await pipeline.verify(30)).uniqueOrderIds;
  for (const scenario of scenarios) {
    await t.step(`scenario ${scenario.id}: ${scenario.title}`, async () => {
      const report = await runScenario(pipeline, scenario, {
        seed,
        long,
        durationMs: (minutes * 60_000) / scenarios.length,
        ordersBefore,
        replay: `deno task test:chaos --scenario ${scenario.id} --seed ${seed}${
          long ? ` --minutes ${minutes}` : ""
        }`,
      });
      ordersBefore += report.orders;
      reports.push(report);
      console.log(formatReport(report));
      if (!report.ok) {
        console.log(`--- supervisor output (last lines) ---\n${pipeline.tail(80)}`);
      }
      assert.ok(report.ok, `scenario ${scenario.id} failed; replay: ${report.replay}`);
      assert.equal(report.duplicates, 0);
      assert.equal(report.lost, 0);
      assert.deepEqual(report.lostAcks, []);
    });
  }
  await t.step("the supervisor's verify word reports the whole run clean", async () => {
    const probe = RaftProbe.start({
      nodes: pipeline.raftNodes.map((n) => ({ id: n.id, addr: n.grpcAddr })),
      load: null,
      brokers: null,
    }, { clusterSecret: pipeline.clusterSecret });
    try {
      await probe.feed(pipeline.ingestorAddr, "pause");
      const result = await pipeline.control("verify 60");
      console.log(result.output);
      assert.equal(result.ok, true, result.output);
      assert.match(result.output, /duplicate order ids +0\b/);
      assert.match(result.output, /commands without event 0\b/);
      await probe.feed(pipeline.ingestorAddr, "resume");
    } finally {
      await probe.stop();
    }
  });
  const failovers = reports.flatMap((r) => r.failoverMs).filter((v): v is number => v !== null);
  const applyFailovers = reports.flatMap((r) => r.failoverApplyMs).filter((v): v is number =>
    v !== null
  );
  if (failovers.length + applyFailovers.length > 0) {
    console.log(
      `leader failover over ${failovers.length} SIGKILLs: to the next accepted order p50 ${
        quantile(failovers, 0.5)
      } ms, p99 ${quantile(failovers, 0.99)} ms; to the next acknowledged Apply p50 ${
        quantile(applyFailovers, 0.5)
      } ms, p99 ${quantile(applyFailovers, 0.99)} ms`,
    );
  }
});
