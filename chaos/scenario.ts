/**
 * What a chaos scenario is and how one runs: a scenario injects faults into a running
 * pipeline through the supervisor's control words; {@linkcode runScenario} surrounds it with
 * a probe (leader changes, an Apply load whose history is checked for linearizability, the
 * order events on Kafka), heals everything afterwards, lets the pipeline drain, runs the
 * verifier, and returns a report with the timeline, recovery times, orders, duplicates and
 * lost orders.
 *
 * @module
 */
import { errorMessage, sleep } from "@trading/shared/retry";
import type {
  PipelineEvent,
  SupervisedPipeline,
  VerifyReport,
} from "@trading/testing/supervised-pipeline";
import { RaftProbe } from "./raft_probe.ts";
import { chaosRandom } from "@trading/shared/chaos";
import type { SeededRandom } from "@trading/shared/seeded-random";
import { Timeline } from "./timeline.ts";

/** One injected fault. */
export interface FaultRecord {
  /** What was done: `kill raft-2 (leader)`. */
  readonly label: string;
  /** When the supervisor injected it, epoch ms. */
  readonly t: number;
  /** The child it hit. */
  readonly target: string;
  /** A SIGKILL of the Raft leader: its recovery counts as a failover time. */
  readonly leaderKill: boolean;
  /** Recovery is measured from here (default `t`), e.g. from lifting exit-on-leader. */
  recoverFrom: number;
}

/** What a scenario works with. */
export interface ScenarioContext {
  readonly pipeline: SupervisedPipeline;
  readonly probe: RaftProbe;
  readonly seed: number;
  /** Seeded: the same seed gives the same choices. */
  readonly random: SeededRandom;
  /** True in long mode: repeat the faults until `durationMs` has passed. */
  readonly long: boolean;
  /** The fault phase's length in long mode, ms. */
  readonly durationMs: number;
  /** The faults so far. */
  readonly faults: FaultRecord[];
  /**
   * Runs a control command that injects a fault (`kill leader`), records it with the time of
   * the supervisor's `fault-start` event, and returns it with the command's output.
   */
  inject(command: string, options?: { leaderKill?: boolean }): Promise<FaultRecord>;
  /** Runs a control command that heals (`heal`, `chaos all off`); returns when, epoch ms. */
  heal(command: string): Promise<number>;
  /** Adds a note to the timeline. */
  note(text: string): void;
  /** Records a failed expectation (the scenario goes on; the report fails). */
  check(ok: boolean, problem: string): void;
  /** Progress for people. */
  say(text: string): void;
}

/** A chaos scenario. */
export interface Scenario {
  readonly id: number;
  /** Short name: `pause-leader`. */
  readonly name: string;
  /** One line: what it does. */
  readonly title: string;
  /** Runs an Apply load and checks its history for linearizability and lost acknowledgements. */
  readonly raft: boolean;
  /** Recovery is the first acknowledged Apply (`apply`) or accepted order (`order`) after a fault. */
  readonly recovery: "apply" | "order";
  run(context: ScenarioContext): Promise<void>;
}

/** The outcome of one scenario. */
export interface ScenarioReport {
  readonly id: number;
  readonly name: string;
  readonly title: string;
  readonly seed: number;
  readonly faults: number;
  /** Distinct orders (order ids with an event) this scenario added. */
  readonly orders: number;
  readonly duplicates: number;
  readonly lost: number;
  /** Per fault: injection to first success (Apply or accepted order), ms; null when none. */
  readonly recoveryMs: ReadonlyArray<number | null>;
  /** Per leader SIGKILL: kill to the next accepted order, ms (null when none came). */
  readonly failoverMs: ReadonlyArray<number | null>;
  /** Per leader SIGKILL: kill to the next acknowledged Apply of the probe's load, ms. */
  readonly failoverApplyMs: ReadonlyArray<number | null>;
  /** The probe's load: acknowledged, uncertain, acknowledged but lost. */
  readonly acked: number;
  readonly uncertain: number;
  readonly lostAcks: readonly string[];
  /** Null without an Apply load. */
  readonly linearizable: { ok: boolean; operations: number; explanation?: string } | null;
  readonly verify: VerifyReport | null;
  readonly problems: readonly string[];
  readonly timeline: string;
  /** The command that runs this scenario again with the same seed. */
  readonly replay: string;
  readonly ok: boolean;
}

/** Options of {@linkcode runScenario}. */
export interface RunScenarioOptions {
  seed: number;
  long?: boolean;
  /** Fault phase length in long mode, ms. */
  durationMs?: number;
  /** Distinct orders before this scenario (from the previous verifier run), to count this one's. */
  ordersBefore?: number;
  /** Progress lines. */
  say?: (text: string) => void;
  /** How to replay; default `deno task test:chaos --scenario <id> --seed <seed>`. */
  replay?: string;
  /** Live figures (accepted orders and acknowledged Applies seen so far), every 500 ms. */
  onFigures?: (figures: { orders: number; acks: number }) => void;
}

const FAULT_EVENT_KINDS = new Set(["fault-start"]);
const PROCESS_EVENT_KINDS = new Set(["exited", "ready", "failed", "restarting"]);

/** Quantile `q` (0-1) of `values` by nearest rank; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

async function lastSeq(pipeline: SupervisedPipeline): Promise<number> {
  return (await pipeline.events()).at(-1)?.seq ?? 0;
}

/** Resumes paused children and heals the network until the pipeline is whole again. */
export async function healEverything(
  pipeline: SupervisedPipeline,
  timeoutMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const status = await pipeline.status();
      for (const child of status.children.filter((c) => c.state === "paused")) {
        await pipeline.control(`resume ${child.name}`);
      }
      const stuck = status.children.filter((c) => c.state === "failed" || c.state === "exited");
      for (const child of stuck) await pipeline.control(`restart ${child.name}`);
      const healed = await pipeline.control("heal");
      if (healed.ok && status.faults.length === 0 && (await pipeline.isReady())) return;
      last = healed.ok ? `faults ${JSON.stringify(status.faults)}` : healed.output;
    } catch (error) {
      last = errorMessage(error);
    }
    await sleep(500);
  }
  throw new Error(`The pipeline did not heal within ${timeoutMs} ms: ${last}`);
}

/**
 * Runs `scenario` on `pipeline` and returns its report; never throws for a failed
 * expectation (the report says `ok: false` with the problems).
 */
export async function runScenario(
  pipeline: SupervisedPipeline,
  scenario: Scenario,
  options: RunScenarioOptions,
): Promise<ScenarioReport> {
  const say = options.say ?? (() => {});
  const startedAt = Date.now();
  const timeline = new Timeline(startedAt);
  const problems: string[] = [];
  const faults: FaultRecord[] = [];
  const seqBefore = await lastSeq(pipeline);
  const status = await pipeline.status();
  const hasServices = status.children.some((c) => c.name === "order-executor");
  const hasIngestor = status.children.some((c) => c.name === "market-ingestor");
  const probe = RaftProbe.start({
    nodes: pipeline.raftNodes.map((n) => ({ id: n.id, addr: n.grpcAddr })),
    pollMs: 50,
    load: scenario.raft
      ? { clients: 3, prefix: `s${scenario.id}-${options.seed}-${startedAt}`, pauseMs: 20 }
      : null,
    brokers: hasServices ? pipeline.brokers : null,
    deadlineMs: 1000,
  }, { clusterSecret: pipeline.clusterSecret });
  let verify: VerifyReport | null = null;
  let summary;
  const figures = setInterval(() => {
    options.onFigures?.({
      orders: probe.events.filter((e) => e.status === "accepted").length,
      acks: probe.acksAfter(startedAt),
    });
  }, 500);
  try {
    await probe.waitForLeader();
    await probe.waitUntil(
      "the first successes before any fault",
      () =>
        (scenario.raft ? probe.acksAfter(startedAt) >= 5 : true) &&
          (!hasServices || scenario.recovery === "apply" ||
            probe.events.filter((e) => e.status === "accepted").length >= 3)
          ? true
          : undefined,
      60_000,
    );
    timeline.add(Date.now(), "note", "load and order flow running");

    const context: ScenarioContext = {
      pipeline,
      probe,
      seed: options.seed,
      random: chaosRandom(options.seed * 1000 + scenario.id),
      long: options.long ?? false,
      durationMs: options.durationMs ?? 60_000,
      faults,
      async inject(command, { leaderKill = false } = {}) {
        const before = await lastSeq(pipeline);
        const output = await pipeline.must(command);
        const events = await pipeline.events(before);
        const started = events.find((e) => FAULT_EVENT_KINDS.has(e.kind));
        const t = started ? Date.parse(started.time) : Date.now();
        const target = started?.child ?? command.split(" ")[1] ?? "";
        const label = `${command}${target && !command.includes(target) ? ` -> ${target}` : ""}`;
        const fault: FaultRecord = { label, t, target, leaderKill, recoverFrom: t };
        faults.push(fault);
        say(`${label}: ${output.split("\n")[0]}`);
        return fault;
      },
      async heal(command) {
        const output = await pipeline.must(command);
        const t = Date.now();
        say(`${command}: ${output.split("\n")[0]}`);
        return t;
      },
      note: (text) => timeline.add(Date.now(), "note", text),
      check: (ok, problem) => {
        if (!ok) problems.push(problem);
      },
      say,
    };
    try {
      await scenario.run(context);
    } catch (error) {
      problems.push(`scenario failed: ${errorMessage(error)}`);
    }
    say("healing every fault");
    await healEverything(pipeline);
    timeline.add(Date.now(), "note", "every fault healed, every child ready");

    // Give every fault its first success before measuring.
    await probe.waitUntil(
      "a success after every fault",
      () =>
        faults.every((f) =>
            scenario.recovery === "apply"
              ? probe.firstAckAfter(f.recoverFrom) !== undefined
              : !hasServices || probe.firstAcceptedOrderAfter(f.recoverFrom) !== undefined
          )
          ? true
          : undefined,
      60_000,
    ).catch((error) => problems.push(errorMessage(error)));
    if (hasServices) {
      // Failover is measured to the next accepted order: wait for one after each leader kill.
      await probe.waitUntil(
        "an accepted order after every leader kill",
        () =>
          faults.filter((f) => f.leaderKill).every((f) =>
              probe.firstAcceptedOrderAfter(f.t) !== undefined
            )
            ? true
            : undefined,
        60_000,
      ).catch((error) => problems.push(errorMessage(error)));
    }

    if (hasIngestor) {
      say("pausing the feed and verifying");
      await probe.feed(pipeline.ingestorAddr, "pause");
    }
    try {
      verify = await pipeline.verify(90);
    } finally {
      if (hasIngestor) await probe.feed(pipeline.ingestorAddr, "resume");
    }
  } catch (error) {
    problems.push(errorMessage(error));
  } finally {
    clearInterval(figures);
    summary = await probe.stop().catch((error) => {
      problems.push(`probe: ${errorMessage(error)}`);
      return undefined;
    });
    await probe[Symbol.asyncDispose]();
  }

  const linearizable = scenario.raft ? probe.linearizability() : null;
  if (linearizable && !linearizable.ok) {
    problems.push(`history not linearizable for order ${linearizable.orderId}`);
  }
  if (summary && summary.lost.length > 0) {
    problems.push(`${summary.lost.length} acknowledged Applies lost: ${summary.lost.slice(0, 5)}`);
  }
  if (verify && (verify.duplicates > 0 || verify.lost > 0)) {
    problems.push(`verifier: ${verify.duplicates} duplicates, ${verify.lost} lost`);
  }

  addPipelineEvents(timeline, await pipeline.events(seqBefore));
  addLeaderChanges(timeline, probe);
  const recoveryMs = faults.map((f) => {
    const at = scenario.recovery === "apply"
      ? probe.firstAckAfter(f.recoverFrom)
      : probe.firstAcceptedOrderAfter(f.recoverFrom)?.t;
    if (at !== undefined) {
      const what = scenario.recovery === "apply" ? "acknowledged Apply" : "accepted order";
      timeline.add(at, "recovered", `first ${what} after "${f.label}" (${at - f.recoverFrom} ms)`);
    }
    return at === undefined ? null : at - f.recoverFrom;
  });
  const leaderKills = faults.filter((f) => f.leaderKill);
  const failoverMs = leaderKills.map((f) => {
    const event = probe.firstAcceptedOrderAfter(f.t);
    if (event && scenario.recovery === "apply") {
      timeline.add(
        event.t,
        "recovered",
        `next accepted order after "${f.label}" (${event.t - f.t} ms)`,
      );
    }
    return event ? event.t - f.t : null;
  });
  const failoverApplyMs = leaderKills.map((f) => {
    const at = probe.firstAckAfter(f.t);
    return at === undefined ? null : at - f.t;
  });
  if (faults.length === 0) problems.push("no fault was injected");

  const replay = options.replay ??
    `deno task test:chaos --scenario ${scenario.id} --seed ${options.seed}`;
  return {
    id: scenario.id,
    name: scenario.name,
    title: scenario.title,
    seed: options.seed,
    faults: faults.length,
    orders: verify ? verify.uniqueOrderIds - (options.ordersBefore ?? 0) : 0,
    duplicates: verify?.duplicates ?? 0,
    lost: verify?.lost ?? 0,
    recoveryMs,
    failoverMs,
    failoverApplyMs,
    acked: summary?.acked ?? 0,
    uncertain: summary?.uncertain ?? 0,
    lostAcks: summary?.lost ?? [],
    linearizable: linearizable === null
      ? null
      : linearizable.ok
      ? { ok: true, operations: linearizable.operations }
      : { ok: false, operations: linearizable.operations, explanation: linearizable.explanation },
    verify,
    problems,
    timeline: timeline.format(),
    replay,
    ok: problems.length === 0 && verify !== null,
  };
}

function addPipelineEvents(timeline: Timeline, events: readonly PipelineEvent[]): void {
  for (const event of events) {
    const t = Date.parse(event.time);
    if (event.kind === "fault-start") {
      timeline.add(t, "fault", event.message.replace(/^fault /, ""));
    } else if (event.kind === "fault-stop") {
      timeline.add(t, "heal", event.message.replace(/^fault /, ""));
    } else if (PROCESS_EVENT_KINDS.has(event.kind)) timeline.add(t, "process", event.message);
  }
}

function addLeaderChanges(timeline: Timeline, probe: RaftProbe): void {
  let previous = "";
  for (const view of probe.clusterViews) {
    const key = `${view.leader}@${view.term}`;
    if (key === previous) continue;
    previous = key;
    timeline.add(
      view.t,
      "leader",
      view.leader === "" ? "no leader" : `${view.leader} leads in term ${view.term}`,
    );
  }
}

/** Formats a report: header, timeline, and one summary line. */
export function formatReport(report: ScenarioReport): string {
  const ms = (values: ReadonlyArray<number | null>) =>
    values.length === 0 ? "-" : values.map((v) => v === null ? "none" : `${v} ms`).join(", ");
  const lines = [
    `scenario ${report.id} (${report.name}, seed ${report.seed}): ${report.title}`,
    report.timeline,
    `  result: ${report.ok ? "OK" : "FAILED"}; faults ${report.faults}; recovery ${
      ms(report.recoveryMs)
    }; orders ${report.orders}; duplicates ${report.duplicates}; lost ${report.lost}`,
  ];
  if (report.failoverMs.length > 0) {
    lines.push(
      `  leader failover: to the next accepted order ${
        ms(report.failoverMs)
      }; to the next acknowledged Apply ${ms(report.failoverApplyMs)}`,
    );
  }
  if (report.linearizable) {
    lines.push(
      `  Apply load: ${report.acked} acknowledged, ${report.uncertain} uncertain, ${report.lostAcks.length} lost; history of ${report.linearizable.operations} operations ${
        report.linearizable.ok ? "linearizable" : "NOT linearizable"
      }`,
    );
  }
  for (const problem of report.problems) lines.push(`  problem: ${problem}`);
  if (!report.ok) lines.push(`  replay: ${report.replay}`);
  return lines.join("\n");
}
