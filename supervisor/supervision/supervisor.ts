/**
 * The supervisor loop: starts children in dependency order, each gated on the readiness of
 * what it depends on; restarts them by policy with exponential backoff and jitter; gives up
 * on a child that exceeds its restart intensity; pauses, resumes, kills and restarts them on
 * request; and shuts everything down in reverse dependency order (SIGCONT if paused, SIGTERM,
 * grace, SIGKILL), never restarting during shutdown. Every transition is an event on
 * {@linkcode Supervisor.events}.
 *
 * @module
 */
import { counter, gauge } from "@trading/shared/metrics";
import { getLogger } from "@trading/shared/log";
import { errorMessage, sleep } from "@trading/shared/retry";
import {
  type ChildCommand,
  type ChildSpec,
  type ChildSpecInput,
  parseChildSpecs,
  type RestartPolicyName,
} from "./child_spec.ts";
import { type ChildProcessHandle, spawnChild } from "./child_process.ts";
import { stopWaves } from "./dependency_order.ts";
import { EventTimeline, type NewEvent, type SupervisorEvent } from "./event_timeline.ts";
import { LogMultiplexer } from "./log_multiplexer.ts";
import { probeReadiness, type ProbeResult } from "./readiness_probe.ts";
import { type ExitStatus, isAbnormalExit, RestartPolicy } from "./restart_policy.ts";
import { watchListLine } from "./watchdog.ts";

/**
 * The life of a child: `waiting` (for its dependencies), `starting` (started, not yet
 * ready), `running` (passed its readiness probe), `paused` (SIGSTOP), `backoff` (crashed,
 * restart scheduled), `stopping` (SIGTERM sent), `stopped` (stopped on purpose), `failed`
 * (gave up: restart intensity exceeded), `exited` (ended and its policy says stay down).
 */
export type ChildState =
  | "waiting"
  | "starting"
  | "running"
  | "paused"
  | "backoff"
  | "stopping"
  | "stopped"
  | "failed"
  | "exited";

/** A child as `/status` shows it. */
export interface ChildStatus {
  name: string;
  pid: number | null;
  state: ChildState;
  /** Restarts so far, by policy or on request. */
  restarts: number;
  /** Since the current process started, while there is one. */
  uptimeMs: number | null;
  startedAt: string | null;
  lastExit: { code: number; signal: string | null; at: string } | null;
  /** The last readiness probe's result. */
  health: { ok: boolean; detail?: string; at: string } | null;
  /** Why the supervisor gave up on it, when `failed`. */
  failure: string | null;
  ports: Record<string, number>;
  restart: RestartPolicyName;
  dependsOn: string[];
}

/** Options of {@linkcode Supervisor}. */
export interface SupervisorOptions {
  /** The children, validated here. */
  specs: readonly ChildSpecInput[];
  /** Where children's lines go; default JSON lines on stdout. */
  output?: LogMultiplexer;
  /** The watchdog's command (`supervisor-watchdog` role); none when omitted. */
  watchdog?: ChildCommand;
  /** The whole shutdown's bound: grace periods shrink to fit it. Default 9500 ms. */
  shutdownDeadlineMs?: number;
  /** Probe period of a ready child, ms. Default 1000. */
  probeIntervalMs?: number;
  /** Probe period while a child is starting, ms. Default 100. */
  startingProbeIntervalMs?: number;
  /** Events kept for `/events`. Default 1000. */
  timelineCapacity?: number;
  /** Randomness of the backoff jitter, injectable for tests. */
  random?: () => number;
}

/** Thrown by a control method when the child is not in a state that allows it. */
export class ChildStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ChildStateError";
  }
}

interface ChildRecord {
  spec: ChildSpec;
  policy: RestartPolicy;
  state: ChildState;
  process: ChildProcessHandle | undefined;
  startedAt: number | undefined;
  restarts: number;
  lastExit: ChildStatus["lastExit"];
  health: ChildStatus["health"];
  failure: string | null;
  /** The coming exit is intended (stop, restart, shutdown): no policy applies. */
  stopRequested: boolean;
  /** The coming exit was caused by a `kill` command: restarted, but not held against it. */
  killRequested: boolean;
  pausedFrom: ChildState | undefined;
  resumeTimer: Timer | undefined;
  backoffTimer: Timer | undefined;
}

const restartsTotal = counter(
  "supervisor_child_restarts_total",
  "Restarts of a supervised child, by policy or on request",
  ["child"],
);
const childUp = gauge(
  "supervisor_child_up",
  "1 while a supervised child runs and passes its readiness probe, else 0",
  ["child"],
);
const eventsTotal = counter(
  "supervisor_events_total",
  "Supervisor timeline events by kind (fault-start counts chaos faults)",
  ["kind"],
);

const LEVEL_OF: Record<string, "debug" | "info" | "warn" | "error"> = {
  failed: "error",
  killed: "warn",
  "fault-start": "warn",
  health: "warn",
};

const encoder = new TextEncoder();

type Timer = ReturnType<typeof setTimeout>;

/**
 * Supervises a set of child processes described by child specs.
 *
 * @example
 * ```ts
 * const supervisor = new Supervisor({ specs });
 * supervisor.start();
 * supervisor.events.subscribe((event) => console.log(event.message));
 * await supervisor.shutdown("SIGINT");
 * ```
 */
export class Supervisor {
  /** The event bus and bounded timeline. */
  readonly events: EventTimeline;
  /** Resolves when a shutdown has completed: every child and the watchdog are gone. */
  readonly done: Promise<void>;

  #specs: ChildSpec[];
  #children = new Map<string, ChildRecord>();
  #output: LogMultiplexer;
  #options: SupervisorOptions;
  #log = getLogger("supervisor");
  #started = false;
  #shuttingDown = false;
  #shutdown: Promise<void> | undefined;
  #resolveDone!: () => void;
  #tasks = new Set<Promise<unknown>>();
  #changeWaiters: Array<() => void> = [];
  #watchdog:
    | { process: Deno.ChildProcess; writer: WritableStreamDefaultWriter<Uint8Array> }
    | undefined;
  #watchdogTimer: Timer | undefined;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#specs = parseChildSpecs(options.specs);
    this.#output = options.output ?? new LogMultiplexer({ pretty: false });
    this.events = new EventTimeline(options.timelineCapacity ?? 1000);
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
    for (const spec of this.#specs) {
      this.#output.register(spec.name);
      this.#children.set(spec.name, {
        spec,
        policy: new RestartPolicy(spec, options.random),
        state: "stopped",
        process: undefined,
        startedAt: undefined,
        restarts: 0,
        lastExit: null,
        health: null,
        failure: null,
        stopRequested: false,
        killRequested: false,
        pausedFrom: undefined,
        resumeTimer: undefined,
        backoffTimer: undefined,
      });
      childUp.set({ child: spec.name }, 0);
      restartsTotal.inc({ child: spec.name }, 0); // a series from the start, for rate()
    }
  }

  /** The children's names, in spec order. */
  get names(): string[] {
    return this.#specs.map((s) => s.name);
  }

  /** The validated specs. */
  get specs(): readonly ChildSpec[] {
    return this.#specs;
  }

  /** True once a shutdown has begun. */
  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** The watchdog's pid, while it runs. */
  get watchdogPid(): number | null {
    return this.#watchdog?.process.pid ?? null;
  }

  /**
   * Starts the watchdog and every child, each once what it depends on is ready. Returns at
   * once; follow progress with {@linkcode status} or {@linkcode events}.
   */
  start(): void {
    if (this.#started) throw new ChildStateError("Supervisor already started: expected one start");
    this.#started = true;
    this.#startWatchdog();
    for (const record of this.#children.values()) this.#track(this.#bringUp(record));
  }

  /** A snapshot of every child. */
  status(): ChildStatus[] {
    return [...this.#children.values()].map((r) => this.#statusOf(r));
  }

  /** True when every permanent child is running and its last probe passed. */
  isReady(): boolean {
    return Object.values(this.readinessChecks()).every((check) => check === true);
  }

  /** Per permanent child: `true` when ready, else a reason (for `/readyz`). */
  readinessChecks(): Record<string, true | string> {
    const checks: Record<string, true | string> = {};
    for (const { spec, state, health } of this.#children.values()) {
      if (spec.restart !== "permanent") continue;
      checks[spec.name] = state !== "running"
        ? `${spec.name} is ${state}`
        : health?.ok === false
        ? `${spec.name} is not ready: ${health.detail ?? "probe failed"}`
        : true;
    }
    return checks;
  }

  /** Records an event from outside the loop (a chaos fault), logs it and returns it. */
  emit(event: NewEvent): SupervisorEvent {
    const full = this.events.emit(event);
    eventsTotal.inc({ kind: event.kind });
    const level = event.kind === "exited" && event.fields?.abnormal === true
      ? "warn"
      : LEVEL_OF[event.kind] ?? "info";
    const escaped = event.message.replaceAll("{", "{{").replaceAll("}", "}}");
    this.#log[level](escaped, { event: event.kind, child: event.child, ...event.fields });
    return full;
  }

  /** SIGKILLs a child; its restart policy decides what follows. Returns one line. */
  kill(name: string): string {
    const record = this.#record(name);
    const process = this.#requireProcess(record, "kill");
    this.#clearResumeTimer(record);
    this.emit({
      kind: "killed",
      child: name,
      message: `killing ${name} (pid ${process.pid}) with SIGKILL`,
      fields: { pid: process.pid, by: "command" },
    });
    record.killRequested = true;
    process.signal("SIGKILL");
    return `killed ${name} (pid ${process.pid})`;
  }

  /** SIGSTOPs a child; SIGCONT after `ms` when given. Returns one line. */
  pause(name: string, ms?: number): string {
    const record = this.#record(name);
    const process = this.#requireProcess(record, "pause");
    if (record.state === "paused") throw new ChildStateError(`${name} is already paused`);
    process.signal("SIGSTOP");
    record.pausedFrom = record.state;
    record.state = "paused";
    childUp.set({ child: name }, 0);
    this.emit({
      kind: "paused",
      child: name,
      message: `paused ${name} (pid ${process.pid})${ms ? ` for ${ms} ms` : ""}`,
      fields: { pid: process.pid, ...(ms ? { ms } : {}) },
    });
    if (ms) {
      record.resumeTimer = setTimeout(() => {
        record.resumeTimer = undefined;
        if (record.state === "paused" && record.process === process) this.resume(name);
      }, ms);
    }
    this.#changed();
    return `paused ${name} (pid ${process.pid})${ms ? `, resuming in ${ms} ms` : ""}`;
  }

  /** SIGCONTs a paused child. Returns one line. */
  resume(name: string): string {
    const record = this.#record(name);
    const process = record.process;
    if (record.state !== "paused" || !process) {
      throw new ChildStateError(`${name} is not paused (state ${record.state})`);
    }
    this.#clearResumeTimer(record);
    process.signal("SIGCONT");
    record.state = record.pausedFrom ?? "running";
    record.pausedFrom = undefined;
    if (record.state === "running" && record.health?.ok !== false) childUp.set({ child: name }, 1);
    this.emit({
      kind: "resumed",
      child: name,
      message: `resumed ${name} (pid ${process.pid})`,
      fields: { pid: process.pid },
    });
    this.#changed();
    return `resumed ${name} (pid ${process.pid})`;
  }

  /**
   * Stops a child gracefully (SIGTERM, grace, SIGKILL) and starts it again at once, with its
   * backoff and restart history reset. Also revives a `failed` or `exited` child.
   */
  async restart(name: string): Promise<string> {
    const record = this.#record(name);
    if (this.#shuttingDown) throw new ChildStateError("The supervisor is shutting down");
    if (record.state === "waiting" || record.state === "stopping") {
      throw new ChildStateError(`${name} cannot be restarted while ${record.state}`);
    }
    this.#clearBackoffTimer(record);
    if (record.process) {
      await this.#stopChild(record, Date.now() + record.spec.shutdownGraceMs);
    }
    if (this.#shuttingDown) throw new ChildStateError("The supervisor is shutting down");
    record.policy.reset();
    record.failure = null;
    record.restarts++;
    restartsTotal.inc({ child: name });
    this.emit({
      kind: "restarting",
      child: name,
      message: `restarting ${name} on request`,
      fields: { delayMs: 0, reason: "command" },
    });
    this.#spawn(record);
    const pid = record.process?.pid;
    return pid
      ? `restarted ${name} (pid ${pid})`
      : `restart of ${name} failed (state ${record.state})`;
  }

  /**
   * Stops every child in reverse dependency order and the watchdog; idempotent. Resolves
   * when all are gone (also {@linkcode done}).
   */
  shutdown(reason = "shutdown"): Promise<void> {
    this.#shutdown ??= this.#shutdownAll(reason);
    return this.#shutdown;
  }

  /** Shuts down (for `await using supervisor = new Supervisor(...)`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown("disposed");
  }

  /** SIGKILLs every child at once (a second Ctrl-C during shutdown). */
  forceStop(): void {
    for (const record of this.#children.values()) {
      if (!record.process) continue;
      record.stopRequested = true;
      record.process.signal("SIGCONT");
      record.process.signal("SIGKILL");
    }
  }

  async #shutdownAll(reason: string): Promise<void> {
    this.#shuttingDown = true;
    this.emit({ kind: "shutdown", message: `shutting down (${reason})`, fields: { reason } });
    for (const record of this.#children.values()) {
      this.#clearBackoffTimer(record);
      if (!record.process && (record.state === "waiting" || record.state === "backoff")) {
        record.state = "stopped";
      }
    }
    this.#changed(); // wakes children waiting for dependencies: they give up
    const deadline = Date.now() + (this.#options.shutdownDeadlineMs ?? 9500);
    for (const wave of stopWaves(this.#specs)) {
      await Promise.all(
        wave.map((spec) => this.#stopChild(this.#children.get(spec.name)!, deadline)),
      );
    }
    await this.#stopWatchdog();
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
    this.#log.info("every child stopped");
    this.#resolveDone();
  }

  async #bringUp(record: ChildRecord): Promise<void> {
    const dependencies = record.spec.dependsOn.map((name) => this.#children.get(name)!);
    const ready = () => dependencies.every((d) => d.state === "running" && d.health?.ok !== false);
    // Only the first start is gated: gating restarts could deadlock, for example a Raft
    // node whose readiness needs a quorum that includes the node waiting for it.
    if (!ready()) {
      record.state = "waiting";
      this.#log.info("{child} waits for {dependencies}", {
        child: record.spec.name,
        dependencies: record.spec.dependsOn.join(", "),
      });
    }
    while (!this.#shuttingDown && !ready()) await this.#nextChange();
    if (this.#shuttingDown) {
      record.state = "stopped";
      return;
    }
    this.#spawn(record);
  }

  #spawn(record: ChildRecord): void {
    const { name } = record.spec;
    if (this.#shuttingDown) {
      record.state = "stopped";
      return;
    }
    record.stopRequested = false;
    record.killRequested = false;
    let process: ChildProcessHandle;
    try {
      process = spawnChild(record.spec, (stream, line) => this.#output.line(name, stream, line));
    } catch (error) {
      // Cannot start at all (a missing executable): count it as a crash so that the
      // policy and the intensity limit apply, rather than retrying forever.
      const exit = { code: 127, signal: null };
      record.lastExit = { ...exit, at: new Date().toISOString() };
      this.emit({
        kind: "exited",
        child: name,
        message: `${name} could not be started: ${errorMessage(error)}`,
        fields: { ...exit, abnormal: true },
      });
      this.#afterExit(record, exit, 0);
      return;
    }
    record.process = process;
    record.startedAt = Date.now();
    record.state = "starting";
    record.health = null;
    const lifecycle = new AbortController();
    this.emit({
      kind: "started",
      child: name,
      message: `started ${name} (pid ${process.pid})`,
      fields: { pid: process.pid },
    });
    this.#sendWatchList();
    this.#track(process.closed);
    this.#track(this.#probeLoop(record, process, lifecycle.signal));
    this.#track(this.#watchExit(record, process, lifecycle));
    this.#changed();
  }

  async #watchExit(
    record: ChildRecord,
    process: ChildProcessHandle,
    lifecycle: AbortController,
  ): Promise<void> {
    const exit = await process.exited;
    lifecycle.abort();
    this.#clearResumeTimer(record);
    const { name } = record.spec;
    const uptimeMs = Date.now() - (record.startedAt ?? Date.now());
    record.process = undefined;
    record.pausedFrom = undefined;
    record.lastExit = { ...exit, at: new Date().toISOString() };
    record.health = null; // it described the process that just ended
    childUp.set({ child: name }, 0);
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    this.emit({
      kind: "exited",
      child: name,
      message: `${name} (pid ${process.pid}) exited with ${how} after ${uptimeMs} ms`,
      fields: {
        pid: process.pid,
        code: exit.code,
        signal: exit.signal,
        uptimeMs,
        abnormal: isAbnormalExit(exit) && !record.stopRequested,
      },
    });
    this.#sendWatchList();
    this.#afterExit(record, exit, uptimeMs);
  }

  #afterExit(record: ChildRecord, exit: ExitStatus, uptimeMs: number): void {
    const { name } = record.spec;
    if (this.#shuttingDown || record.stopRequested) {
      record.state = "stopped";
      this.emit({ kind: "stopped", child: name, message: `stopped ${name}` });
      this.#changed();
      return;
    }
    const injected = record.killRequested;
    record.killRequested = false;
    const decision = record.policy.decide(exit, Date.now(), uptimeMs, { injected });
    if (decision.action === "exit") {
      record.state = "exited";
      this.#log.info("{child} stays down: {reason}", { child: name, reason: decision.reason });
    } else if (decision.action === "fail") {
      record.state = "failed";
      record.failure = decision.reason;
      this.emit({
        kind: "failed",
        child: name,
        message: `gave up on ${name}: ${decision.reason}`,
        fields: { reason: decision.reason },
      });
    } else {
      record.state = "backoff";
      record.restarts++;
      restartsTotal.inc({ child: name });
      this.emit({
        kind: "restarting",
        child: name,
        message: `restarting ${name} in ${decision.delayMs} ms (attempt ${decision.attempt})`,
        fields: { delayMs: decision.delayMs, attempt: decision.attempt },
      });
      record.backoffTimer = setTimeout(() => {
        record.backoffTimer = undefined;
        this.#spawn(record);
      }, decision.delayMs);
    }
    this.#changed();
  }

  async #probeLoop(
    record: ChildRecord,
    process: ChildProcessHandle,
    signal: AbortSignal,
  ): Promise<void> {
    const probe = record.spec.readiness;
    const probing = () =>
      record.process === process && (record.state === "starting" || record.state === "running");
    while (!signal.aborted) {
      if (probing()) {
        const result = await probeReadiness(probe, { signal });
        if (signal.aborted) return;
        if (probing()) this.#recordHealth(record, result);
      }
      if (probe.kind === "none" && record.state === "running") return; // nothing to watch
      const interval = record.state === "starting"
        ? this.#options.startingProbeIntervalMs ?? 100
        : this.#options.probeIntervalMs ?? 1000;
      try {
        await sleep(interval, signal);
      } catch {
        return;
      }
    }
  }

  #recordHealth(record: ChildRecord, result: ProbeResult): void {
    const { name } = record.spec;
    const previous = record.health;
    record.health = { ...result, at: new Date().toISOString() };
    if (result.ok && record.state === "starting") {
      record.state = "running";
      childUp.set({ child: name }, 1);
      this.emit({
        kind: "ready",
        child: name,
        message: `${name} is ready after ${Date.now() - (record.startedAt ?? Date.now())} ms`,
        fields: { pid: record.process?.pid },
      });
      this.#changed();
    } else if (record.state === "running" && previous?.ok !== result.ok) {
      childUp.set({ child: name }, result.ok ? 1 : 0);
      this.emit({
        kind: "health",
        child: name,
        message: result.ok ? `${name} is ready again` : `${name} is not ready: ${result.detail}`,
        fields: result.ok ? { ok: true } : { ok: false, detail: result.detail },
      });
      this.#changed();
    }
  }

  async #stopChild(record: ChildRecord, deadline: number): Promise<void> {
    const process = record.process;
    this.#clearBackoffTimer(record);
    this.#clearResumeTimer(record);
    if (!process) {
      if (record.state === "waiting" || record.state === "backoff") record.state = "stopped";
      return;
    }
    const { name } = record.spec;
    record.stopRequested = true;
    const paused = record.state === "paused";
    record.state = "stopping";
    const graceMs = Math.max(0, Math.min(record.spec.shutdownGraceMs, deadline - Date.now()));
    this.emit({
      kind: "stopping",
      child: name,
      message: `stopping ${name} (pid ${process.pid}): SIGTERM, SIGKILL after ${graceMs} ms`,
      fields: { pid: process.pid, graceMs },
    });
    // A stopped process cannot act on SIGTERM until it is continued.
    if (paused) process.signal("SIGCONT");
    process.signal("SIGTERM");
    let timer: Timer | undefined;
    const exitedInTime = await Promise.race([
      process.exited.then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
    ]);
    clearTimeout(timer);
    if (!exitedInTime) {
      this.emit({
        kind: "killed",
        child: name,
        message: `${name} (pid ${process.pid}) ignored SIGTERM for ${graceMs} ms: SIGKILL`,
        fields: { pid: process.pid, by: "grace" },
      });
      process.signal("SIGKILL");
    }
    await process.closed;
  }

  #startWatchdog(): void {
    const command = this.#options.watchdog;
    if (!command || this.#shuttingDown) return;
    const process = new Deno.Command(command.executable, {
      args: command.args,
      stdin: "piped",
      // Inherited, so that what it says after the supervisor's death still reaches the
      // terminal or log file.
      stdout: "inherit",
      stderr: "inherit",
      detached: true,
    }).spawn();
    const writer = process.stdin.getWriter();
    this.#watchdog = { process, writer };
    this.#log.debug("watchdog started (pid {pid})", { pid: process.pid });
    this.#sendWatchList();
    this.#track(process.status.then((status) => {
      if (this.#shuttingDown || this.#watchdog?.process !== process) return;
      this.#watchdog = undefined;
      writer.releaseLock();
      this.#track(process.stdin.close().catch(() => {}));
      this.#log.error("watchdog exited with code {code}, restarting it in 1 s", {
        code: status.code,
      });
      this.#watchdogTimer = setTimeout(() => {
        this.#watchdogTimer = undefined;
        this.#startWatchdog();
      }, 1000);
    }));
  }

  #sendWatchList(): void {
    const watchdog = this.#watchdog;
    if (!watchdog) return;
    const children = [...this.#children.values()].flatMap((r) =>
      r.process ? [{ pid: r.process.pid, startTime: r.process.startTime }] : []
    );
    this.#track(watchdog.writer.write(encoder.encode(watchListLine(children))).catch(() => {}));
  }

  async #stopWatchdog(): Promise<void> {
    clearTimeout(this.#watchdogTimer);
    const watchdog = this.#watchdog;
    if (!watchdog) return;
    this.#sendWatchList(); // every child is gone by now: an empty list
    await watchdog.writer.close().catch(() => {});
    let timer: Timer | undefined;
    const exited = await Promise.race([
      watchdog.process.status.then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 5000))),
    ]);
    clearTimeout(timer);
    if (!exited) {
      watchdog.process.kill("SIGKILL");
      await watchdog.process.status;
    }
    this.#watchdog = undefined;
  }

  #statusOf(record: ChildRecord): ChildStatus {
    const { spec } = record;
    return {
      name: spec.name,
      pid: record.process?.pid ?? null,
      state: record.state,
      restarts: record.restarts,
      uptimeMs: record.process && record.startedAt ? Date.now() - record.startedAt : null,
      startedAt: record.process && record.startedAt
        ? new Date(record.startedAt).toISOString()
        : null,
      lastExit: record.lastExit,
      health: record.health,
      failure: record.failure,
      ports: spec.ports,
      restart: spec.restart,
      dependsOn: spec.dependsOn,
    };
  }

  #record(name: string): ChildRecord {
    const record = this.#children.get(name);
    if (!record) {
      throw new ChildStateError(
        `Unknown child "${name}": expected one of ${this.names.join(", ")}`,
      );
    }
    return record;
  }

  #requireProcess(record: ChildRecord, action: string): ChildProcessHandle {
    if (!record.process || record.state === "stopping") {
      throw new ChildStateError(
        `Cannot ${action} ${record.spec.name}: it is not running (state ${record.state})`,
      );
    }
    return record.process;
  }

  #clearResumeTimer(record: ChildRecord): void {
    clearTimeout(record.resumeTimer);
    record.resumeTimer = undefined;
  }

  #clearBackoffTimer(record: ChildRecord): void {
    clearTimeout(record.backoffTimer);
    record.backoffTimer = undefined;
  }

  #track(task: Promise<unknown>): void {
    const tracked = task.catch((error) => {
      this.#log.error("supervisor task failed: {error}", { error: errorMessage(error) });
    }).finally(() => this.#tasks.delete(tracked));
    this.#tasks.add(tracked);
  }

  #nextChange(): Promise<void> {
    return new Promise((resolve) => this.#changeWaiters.push(resolve));
  }

  #changed(): void {
    const waiters = this.#changeWaiters;
    this.#changeWaiters = [];
    for (const wake of waiters) wake();
  }
}
