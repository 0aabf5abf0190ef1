/**
 * The dashboard's one aggregation loop in the supervisor: once per round (1 s) it takes the
 * children's status and the Raft cluster's (every node's gRPC Status, asked once per round
 * by the `dashboard-raft-poller` process); every other round it scrapes every running
 * child's `/metrics` and derives the pipeline figures. Each round makes
 * one snapshot, pushed to every subscriber, so that any number of open pages cost the
 * children nothing more (no polling storm).
 *
 * @module
 */
import { getLogger } from "@trading/shared/log";
import { errorMessage } from "@trading/shared/retry";
import { type MetricSample, parsePrometheusText } from "./dashboard_prometheus.ts";
import {
  type PipelineFigures,
  pipelineFigures,
  type Scrape,
} from "./dashboard_pipeline_figures.ts";
import { RaftPollerProcess } from "./dashboard_raft_poller.ts";
import { clusterSecretOf, raftNodesOf } from "../control/raft_commands.ts";
import type { RaftClusterView, RaftTarget } from "./dashboard_raft_status.ts";
import type { ChildState, Supervisor } from "../supervision/supervisor.ts";

/** A child as the dashboard shows it. */
export interface ChildView {
  name: string;
  state: ChildState;
  pid: number | null;
  restarts: number;
  uptimeMs: number | null;
  /** The last readiness probe: true, false, or null before the first. */
  healthy: boolean | null;
  healthDetail: string | null;
  lastExit: string | null;
  failure: string | null;
  httpPort: number | null;
}

/** One point of the charts. */
export interface ChartPoint {
  /** Epoch ms. */
  t: number;
  ticksPerSecond: number | null;
  commandsPerSecond: number | null;
  eventsPerSecond: number | null;
  endToEndP50Ms: number | null;
  endToEndP99Ms: number | null;
  raftApplyP99Ms: number | null;
}

/** What one round produced: the whole state of the page. */
export interface DashboardSnapshot {
  /** ISO-8601 time of the round. */
  time: string;
  ready: boolean;
  shuttingDown: boolean;
  children: ChildView[];
  raft: RaftClusterView;
  /** Null until two scrapes have been made. */
  pipeline: PipelineFigures | null;
  /** Children whose last scrape failed, with the reason. */
  scrapeErrors: Record<string, string>;
}

/** Options of {@linkcode DashboardAggregator}. */
export interface DashboardAggregatorOptions {
  /** Round period, ms. Default 1000. */
  intervalMs?: number;
  /** Scrape `/metrics` every this many rounds. Default 2. */
  scrapeEveryRounds?: number;
  /** Chart points kept. Default 300. */
  historySize?: number;
  /** Host of the children's HTTP ports. Default 127.0.0.1. */
  childHost?: string;
}

/** Aggregates the supervisor's children, the Raft cluster and the pipeline figures. */
export class DashboardAggregator {
  #supervisor: Supervisor;
  #intervalMs: number;
  #scrapeEvery: number;
  #historySize: number;
  #childHost: string;
  #raft: RaftPollerProcess;
  #listeners = new Set<(snapshot: DashboardSnapshot) => void>();
  #history: ChartPoint[] = [];
  #latest: DashboardSnapshot | undefined;
  #previousScrape: Scrape | undefined;
  #pipeline: PipelineFigures | null = null;
  #scrapeErrors: Record<string, string> = {};
  #rounds = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #log = getLogger(["supervisor", "dashboard"]);

  constructor(supervisor: Supervisor, options: DashboardAggregatorOptions = {}) {
    this.#supervisor = supervisor;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#scrapeEvery = options.scrapeEveryRounds ?? 2;
    this.#historySize = options.historySize ?? 300;
    this.#childHost = options.childHost ?? "127.0.0.1";
    this.#raft = new RaftPollerProcess(raftTargets(supervisor, this.#childHost), {
      intervalMs: this.#intervalMs,
      clusterSecret: clusterSecretOf(raftNodesOf(supervisor)),
    });
  }

  /** The last snapshot, if a round has completed. */
  get latest(): DashboardSnapshot | undefined {
    return this.#latest;
  }

  /** The chart points so far, oldest first. */
  get history(): readonly ChartPoint[] {
    return this.#history;
  }

  /** Starts the rounds; the timer never keeps the process alive. */
  start(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#raft.start();
    this.#schedule(0);
  }

  /** Calls `listener` with every later snapshot; returns the function that unsubscribes. */
  subscribe(listener: (snapshot: DashboardSnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Runs one round now and returns its snapshot (tests, and the first page load). */
  async runRound(): Promise<DashboardSnapshot> {
    // One round at a time: a slow scrape delays the next round instead of piling up.
    while (this.#running) await this.#running;
    let snapshot!: DashboardSnapshot;
    this.#running = (async () => {
      snapshot = await this.#collect();
    })();
    try {
      await this.#running;
    } finally {
      this.#running = undefined;
    }
    return snapshot;
  }

  /** Stops the rounds and the Raft poller process. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#running) await this.#running;
    await this.#raft.stop();
    this.#listeners.clear();
  }

  #schedule(delayMs: number): void {
    const timer = setTimeout(async () => {
      try {
        await this.runRound();
      } catch (error) {
        this.#log.warn("dashboard round failed: {error}", { error: errorMessage(error) });
      }
      if (!this.#stopped) this.#schedule(this.#intervalMs);
    }, delayMs);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  async #collect(): Promise<DashboardSnapshot> {
    const scrapeNow = this.#rounds++ % this.#scrapeEvery === 0;
    if (scrapeNow) await this.#scrapeAll();
    const raft = this.#raft.latest();
    const supervisor = this.#supervisor;
    const snapshot: DashboardSnapshot = {
      time: new Date().toISOString(),
      ready: supervisor.isReady(),
      shuttingDown: supervisor.shuttingDown,
      children: supervisor.status().map((child) => ({
        name: child.name,
        state: child.state,
        pid: child.pid,
        restarts: child.restarts,
        uptimeMs: child.uptimeMs,
        healthy: child.health === null ? null : child.health.ok,
        healthDetail: child.health?.detail ?? null,
        lastExit: child.lastExit === null
          ? null
          : child.lastExit.signal ?? `code ${child.lastExit.code}`,
        failure: child.failure,
        httpPort: child.ports.http ?? null,
      })),
      raft,
      pipeline: this.#pipeline,
      scrapeErrors: this.#scrapeErrors,
    };
    this.#latest = snapshot;
    for (const listener of this.#listeners) {
      try {
        listener(snapshot);
      } catch { /* a broken subscriber must not stop the loop */ }
    }
    return snapshot;
  }

  async #scrapeAll(): Promise<void> {
    const at = Date.now();
    const byChild = new Map<string, MetricSample[]>();
    const errors: Record<string, string> = {};
    // Only running children: a paused (SIGSTOPped) one would hold the request until timeout.
    const targets = this.#supervisor.status().filter((c) =>
      c.ports.http !== undefined && (c.state === "running" || c.state === "starting")
    );
    await Promise.all(targets.map(async (child) => {
      try {
        const response = await fetch(`http://${this.#childHost}:${child.ports.http}/metrics`, {
          signal: AbortSignal.timeout(1500),
        });
        if (!response.ok) {
          await response.body?.cancel();
          throw new Error(`HTTP ${response.status}`);
        }
        byChild.set(child.name, parsePrometheusText(await response.text()));
      } catch (error) {
        errors[child.name] = errorMessage(error);
      }
    }));
    const scrape: Scrape = { at, byChild };
    this.#pipeline = pipelineFigures(scrape, this.#previousScrape);
    this.#previousScrape = scrape;
    this.#scrapeErrors = errors;
    this.#history.push({
      t: at,
      ticksPerSecond: this.#pipeline.ticksPerSecond,
      commandsPerSecond: this.#pipeline.commandsPerSecond,
      eventsPerSecond: this.#pipeline.eventsPerSecond,
      endToEndP50Ms: this.#pipeline.endToEnd.p50Ms,
      endToEndP99Ms: this.#pipeline.endToEnd.p99Ms,
      raftApplyP99Ms: this.#pipeline.raftApply.p99Ms,
    });
    if (this.#history.length > this.#historySize) this.#history.shift();
  }
}

/** The raft children and their gRPC addresses. */
function raftTargets(supervisor: Supervisor, host: string): RaftTarget[] {
  return supervisor.specs
    .filter((spec) => /^raft-\d+$/.test(spec.name) && spec.ports.grpc !== undefined)
    .map((spec) => ({ name: spec.name, address: `${host}:${spec.ports.grpc}` }));
}
