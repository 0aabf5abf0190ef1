/**
 * The soak: a whole pipeline under a randomized nemesis for a number of minutes, every fault
 * kind mixed on a schedule derived from a seed (soak_schedule.ts), an Apply load recorded for
 * the linearizability checker throughout, every fault healed at the end, then a liveness check
 * (orders flow again) and the verifier.
 *
 * @module
 */
import { errorMessage, sleep } from "@trading/shared/retry";
import type { SupervisedPipeline, VerifyReport } from "@trading/testing/supervised-pipeline";
import { type InjectedFault, runFault } from "./nemesis.ts";
import { RaftProbe } from "./raft_probe.ts";
import { healEverything, quantile } from "./scenario.ts";
import { type SoakFaultKind, soakSchedule } from "./soak_schedule.ts";

/** Options of {@linkcode runSoak}. */
export interface SoakOptions {
  seed: number;
  minutes: number;
  /** Progress: called after every fault with its time since the soak's start, ms. */
  onFault?: (injected: InjectedFault, index: number, total: number, offsetMs: number) => void;
  say?: (text: string) => void;
  /** Figures for a live progress line, called every 500 ms. */
  onFigures?: (figures: { orders: number; acks: number }) => void;
}

/** What a soak found. */
export interface SoakReport {
  readonly seed: number;
  readonly minutes: number;
  readonly elapsedMs: number;
  /** Faults injected, by kind. */
  readonly faultsByKind: Readonly<Record<string, number>>;
  readonly faults: readonly InjectedFault[];
  /** Distinct orders with an event, over the whole run. */
  readonly orders: number;
  readonly duplicates: number;
  readonly lost: number;
  /** Leader SIGKILL to the next accepted order, ms, per kill-leader fault that had one. */
  readonly failoverMs: readonly number[];
  /** Leader SIGKILL to the next acknowledged Apply, ms. */
  readonly failoverApplyMs: readonly number[];
  /** Leaders that exited with code 3 during exit-on-leader storms. */
  readonly leaderExits: number;
  /** Orders flowed again after the final heal: heal to the next accepted order, ms. */
  readonly livenessMs: number | null;
  readonly acked: number;
  readonly uncertain: number;
  readonly lostAcks: readonly string[];
  readonly linearizable: { ok: boolean; operations: number; explanation?: string };
  readonly verify: VerifyReport | null;
  readonly problems: readonly string[];
  readonly ok: boolean;
}

/** Runs the soak on `pipeline` (already started and ready); never throws for a finding. */
export async function runSoak(
  pipeline: SupervisedPipeline,
  options: SoakOptions,
): Promise<SoakReport> {
  const say = options.say ?? (() => {});
  const schedule = soakSchedule(options.seed, options.minutes);
  const problems: string[] = [];
  const injected: InjectedFault[] = [];
  const startedAt = Date.now();
  const probe = RaftProbe.start({
    nodes: pipeline.raftNodes.map((n) => ({ id: n.id, addr: n.grpcAddr })),
    pollMs: 50,
    load: { clients: 2, prefix: `soak-${options.seed}-${startedAt}`, pauseMs: 40 },
    brokers: pipeline.brokers,
    deadlineMs: 1000,
  }, { clusterSecret: pipeline.clusterSecret });
  const figures = setInterval(() => {
    options.onFigures?.({
      orders: probe.events.filter((e) => e.status === "accepted").length,
      acks: probe.acksAfter(startedAt),
    });
  }, 500);
  let verify: VerifyReport | null = null;
  let livenessMs: number | null = null;
  let summary;
  try {
    await probe.waitForLeader();
    await probe.waitUntil(
      "orders flowing before the first fault",
      () =>
        probe.firstAcceptedOrderAfter(startedAt) && probe.acksAfter(startedAt) > 0
          ? true
          : undefined,
      60_000,
    );
    for (const [index, fault] of schedule.entries()) {
      const wait = startedAt + fault.atMs - Date.now();
      if (wait > 0) await sleep(wait);
      try {
        const result = await runFault(pipeline, fault);
        injected.push(result);
        options.onFault?.(result, index, schedule.length, result.injectedAt - startedAt);
      } catch (error) {
        problems.push(`fault ${index + 1} (${fault.kind} ${fault.target}): ${errorMessage(error)}`);
        say(`fault ${index + 1} (${fault.kind}) did not complete: ${errorMessage(error)}`);
        await healEverything(pipeline).catch((e) => problems.push(errorMessage(e)));
      }
    }
    // Run for the minutes asked, whatever the schedule's last gap.
    const rest = startedAt + options.minutes * 60_000 - 25_000 - Date.now();
    if (rest > 0) {
      say(`last fault healed: orders flow for ${Math.round(rest / 1000)} s more`);
      await sleep(rest);
    }
    say("healing every fault");
    await healEverything(pipeline);
    const healedAt = Date.now();
    say("liveness: waiting for orders to flow again");
    const next = await probe.waitUntil(
      "an accepted order after the final heal",
      () => probe.firstAcceptedOrderAfter(healedAt),
      60_000,
    ).catch((error) => {
      problems.push(`liveness: ${errorMessage(error)}`);
      return undefined;
    });
    livenessMs = next ? next.t - healedAt : null;
    await probe.waitUntil(
      "an acknowledged Apply after the final heal",
      () => probe.firstAckAfter(healedAt),
      60_000,
    ).catch((error) => problems.push(`liveness: ${errorMessage(error)}`));
    say("pausing the feed and running the verifier");
    await probe.feed(pipeline.ingestorAddr, "pause");
    verify = await pipeline.verify(180);
  } catch (error) {
    problems.push(errorMessage(error));
  } finally {
    clearInterval(figures);
    say("reading back every acknowledged Apply");
    summary = await probe.stop().catch((error) => {
      problems.push(`probe: ${errorMessage(error)}`);
      return undefined;
    });
    await probe[Symbol.asyncDispose]();
  }

  say("checking the Apply/Read history for linearizability");
  const history = probe.linearizability();
  if (!history.ok) problems.push(`history not linearizable for order ${history.orderId}`);
  if (summary && summary.lost.length > 0) {
    problems.push(`${summary.lost.length} acknowledged Applies lost: ${summary.lost.slice(0, 5)}`);
  }
  if (verify && !verify.ok) {
    problems.push(`verifier: ${verify.duplicates} duplicates, ${verify.lost} lost`);
  }
  if (verify === null) problems.push("the verifier did not run");

  const faultsByKind: Partial<Record<SoakFaultKind, number>> = {};
  for (const f of injected) faultsByKind[f.fault.kind] = (faultsByKind[f.fault.kind] ?? 0) + 1;
  const leaderKills = injected.filter((f) => f.fault.kind === "kill-leader");
  const failoverMs = leaderKills.flatMap((f) => {
    const event = probe.firstAcceptedOrderAfter(f.injectedAt);
    return event ? [event.t - f.injectedAt] : [];
  });
  const failoverApplyMs = leaderKills.flatMap((f) => {
    const at = probe.firstAckAfter(f.injectedAt);
    return at === undefined ? [] : [at - f.injectedAt];
  });
  return {
    seed: options.seed,
    minutes: options.minutes,
    elapsedMs: Date.now() - startedAt,
    faultsByKind,
    faults: injected,
    orders: verify?.uniqueOrderIds ?? 0,
    duplicates: verify?.duplicates ?? 0,
    lost: verify?.lost ?? 0,
    failoverMs,
    failoverApplyMs,
    leaderExits: injected.reduce((sum, f) => sum + f.leaderExits, 0),
    livenessMs,
    acked: summary?.acked ?? 0,
    uncertain: summary?.uncertain ?? 0,
    lostAcks: summary?.lost ?? [],
    linearizable: history.ok
      ? { ok: true, operations: history.operations }
      : { ok: false, operations: history.operations, explanation: history.explanation },
    verify,
    problems,
    ok: problems.length === 0,
  };
}

/** The report for people. */
export function formatSoakReport(report: SoakReport): string {
  const kinds = Object.entries(report.faultsByKind).sort(([a], [b]) => a.localeCompare(b));
  const total = kinds.reduce((sum, [, n]) => sum + n, 0);
  const p = (values: readonly number[]) =>
    values.length === 0
      ? "none"
      : `p50 ${quantile(values, 0.5)} ms, p99 ${
        quantile(values, 0.99)
      } ms (${values.length} kills)`;
  return [
    `soak seed ${report.seed}, ${report.minutes} min (${(report.elapsedMs / 1000).toFixed(0)} s): ${
      report.ok ? "OK" : "FAILED"
    }`,
    `faults injected       ${total}`,
    ...kinds.map(([kind, n]) => `  ${kind.padEnd(20)}${n}`),
    `leader exits (code 3) ${report.leaderExits}`,
    `orders                ${report.orders}`,
    `duplicates            ${report.duplicates}`,
    `lost                  ${report.lost}`,
    `leader failover       to the next accepted order ${p(report.failoverMs)}`,
    `                      to the next acknowledged Apply ${p(report.failoverApplyMs)}`,
    `liveness              ${
      report.livenessMs === null
        ? "NO order after the final heal"
        : `orders flowed ${report.livenessMs} ms after the final heal`
    }`,
    `Apply load            ${report.acked} acknowledged, ${report.uncertain} uncertain, ${report.lostAcks.length} lost; history of ${report.linearizable.operations} operations ${
      report.linearizable.ok ? "linearizable" : "NOT linearizable"
    }`,
    ...report.problems.map((problem) => `problem: ${problem}`),
    `replay                deno task soak --seed ${report.seed} --minutes ${report.minutes}`,
  ].join("\n");
}
