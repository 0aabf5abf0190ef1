/**
 * Benchmark of the Raft de-duplication cluster (`deno task bench raft`), measured the way the
 * etcd anchor is (/work/shared/anchors/etcd): 3 raft-node processes on loopback with fsync
 * on (`synchronous=FULL`), and the load client in ANOTHER process over gRPC, one channel to
 * the leader, unique order ids, 100-byte payloads.
 *
 * - `apply-seq`: one Apply in flight.
 * - `apply-64-concurrent`: 64 Applies in flight.
 * - `failover`: SIGKILL of the leader to the first successful Apply (on any node), over
 *   `--kills` kills (default 20); the killed node restarts and catches up between kills.
 * - `failover-pause`, `failover-partition`: the same with the leader frozen (SIGSTOP, then
 *   SIGCONT) or cut off from its peers (RaftAdmin Partition, then Heal) instead of killed;
 *   `failover-stop`: a planned stop (SIGTERM), where the leader hands over before it exits.
 *
 * `--transport=grpc|tcp` picks the nodes' peer transport (RAFT_TRANSPORT; default this
 * environment's RAFT_TRANSPORT, else the nodes' default), and `--storage=sqlite|log` their
 * storage (RAFT_STORAGE, likewise); every result names both. The apply cases report fsyncs
 * and CPU per Apply beside ops/s (params `fsyncs_per_apply_*`, `cpu_us_per_apply_*`): each
 * node's growth between two scrapes around the load process, over the Applies taken between
 * the same scrapes (`applies_in_window`: the measured ones and the client's warm-up ones).
 * The client's own CPU is measured after its warm-up, so it is divided by the measured ones.
 *
 * The apply cases count the leader changes the nodes saw while they ran (elections under
 * load: spurious ones, as nothing fails meanwhile).
 *
 * The load client is this same file run with `--load` (see {@linkcode runLoad}).
 *
 * @module
 */
import process from "node:process";
import { fileURLToPath } from "node:url";
import { ApplyResult, RaftNodeClient } from "@trading/proto/raft";
import { OrderStatus } from "@trading/proto/orders";
import { insecure, releaseClient, unary } from "@trading/shared/grpc";
import { RAFT_CHANNEL_OPTIONS } from "@trading/shared/raft-client";
import { RAFT_NODE_DEFAULTS } from "@trading/raft-node/defaults";
import { RaftCluster } from "@trading/testing/raft-cluster";
import { type BenchOptions, type BenchResult, percentile, round } from "./types.ts";

const SUITE = "raft";
const SELF = fileURLToPath(import.meta.url);
const NODE_LOAD = fileURLToPath(new URL("./raft_load.cjs", import.meta.url));
const VALUE_BYTES = 100;
const TICK_MS = 10;
const ELECTION_TICKS = 50;
const HEARTBEAT_TICKS = 10;

/** What one load phase measured, as the load process prints it (one JSON line). */
interface LoadResult {
  ops: number;
  errors: number;
  elapsedMs: number;
  latenciesMs: number[];
  cpuMs: number;
}

/**
 * The load client: `concurrency` workers, each keeping one Apply in flight on one channel to
 * `address`, until `count` Applies or `seconds` have passed; after `warmup` unmeasured ones.
 */
async function runLoad(
  address: string,
  concurrency: number,
  count: number,
  seconds: number,
  warmup: number,
  prefix: string,
): Promise<LoadResult> {
  const client = new RaftNodeClient(address, insecure(), RAFT_CHANNEL_OPTIONS);
  const payload = new Uint8Array(VALUE_BYTES).fill(0x78);
  const outcome = { status: OrderStatus.ORDER_STATUS_ACCEPTED, reason: "" };
  let next = 0;
  const apply = async () => {
    const response = await unary(client, client.apply, {
      orderId: `${prefix}-${next++}`,
      payload,
      outcome,
      symbol: "",
      positionDelta: 0,
      maxPosition: 0,
    }, { deadlineMs: 10_000 });
    if (response.result !== ApplyResult.APPLY_RESULT_APPLIED) {
      throw new Error(`Apply answered ${ApplyResult[response.result]}`);
    }
  };
  for (let i = 0; i < warmup; i++) await apply();
  const latenciesMs: number[] = [];
  let issued = 0;
  let errors = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const end = started + seconds * 1000;
  const worker = async () => {
    while (issued < count && performance.now() < end) {
      issued++;
      const t0 = performance.now();
      try {
        await apply();
        latenciesMs.push(performance.now() - t0);
      } catch (error) {
        if (++errors <= 3) console.error(`apply error: ${error}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  // Released, not closed: a graceful close after this many calls can abort the server while
  // the GOAWAY workaround is on (shared/grpc/grpc.ts); the process exits right after.
  releaseClient(client);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return { ops: latenciesMs.length, errors, elapsedMs, latenciesMs, cpuMs };
}

/** Which load client runs: Node.js (as the etcd anchor's) or Deno (as the executor's). */
export type LoadClient = "node" | "deno";

/** True when a `node` executable answers. */
async function hasNode(): Promise<boolean> {
  try {
    return (await new Deno.Command("node", { args: ["--version"], stdout: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

/** Runs the load client in its own process and returns what it measured. */
async function loadInAnotherProcess(
  client: LoadClient,
  address: string,
  concurrency: number,
  count: number,
  seconds: number,
  prefix: string,
): Promise<LoadResult> {
  const command = client === "node"
    ? new Deno.Command("node", {
      args: [NODE_LOAD, address, String(concurrency), String(count), String(seconds), prefix],
      stdout: "piped",
      stderr: "inherit",
    })
    : new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--frozen",
        SELF,
        "--load",
        `--address=${address}`,
        `--concurrency=${concurrency}`,
        `--count=${count}`,
        `--seconds=${seconds}`,
        `--prefix=${prefix}`,
      ],
      stdout: "piped",
      stderr: "inherit",
    });
  const output = await command.output();
  if (!output.success) throw new Error(`The raft load client failed with code ${output.code}`);
  return JSON.parse(new TextDecoder().decode(output.stdout)) as LoadResult;
}

/** A metric's value (summed over label sets) from Prometheus text. */
function metric(text: string, name: string, labels = ""): number {
  let total = 0;
  const pattern = new RegExp(`^${name}(?:\\{[^}]*${labels}[^}]*\\})? ([0-9.e+-]+)$`, "gm");
  for (const match of text.matchAll(pattern)) total += Number(match[1]);
  return total;
}

/**
 * The Applies a node's state machine took between two scrapes of its metrics (the growth of
 * `raft_orders`, its unique order ids): the load client's measured Applies, and also its
 * warm-up ones and any that committed after the client gave up on them, whose fsyncs and CPU
 * the same two scrapes count.
 */
export function appliesBetween(before: string, after: string): number {
  return metric(after, "raft_orders") - metric(before, "raft_orders");
}

/**
 * The growth of `name` between two scrapes of one node divided by `applies`, the Applies of
 * the same window ({@linkcode appliesBetween}), so that numerator and denominator cover the
 * same Applies; 0 when there were none.
 */
export function perApply(before: string, after: string, name: string, applies: number): number {
  return applies > 0 ? (metric(after, name) - metric(before, name)) / applies : 0;
}

interface ServerFigures {
  rssMb: number;
  writes: number;
  fsyncs: number;
  fsyncMeanMs: number;
  writeMeanMs: number;
  entriesPerWrite: number;
  maxTickIntervalMs: number;
  p99TickIntervalMs: number;
}

/** The leader's storage and event-loop figures, as deltas between two scrapes. */
function serverFigures(before: string, after: string): ServerFigures {
  const delta = (name: string, labels = "") =>
    metric(after, name, labels) - metric(before, name, labels);
  const writes = delta("raft_storage_write_duration_seconds_count");
  const fsyncs = delta("raft_storage_write_duration_seconds_count", 'sync="true"');
  const fsyncSeconds = delta("raft_storage_write_duration_seconds_sum", 'sync="true"');
  const entries = delta("raft_ready_entries_sum");
  // Buckets are cumulative: the smallest bound holding every new observation bounds the
  // longest interval between two ticks, that is the longest event-loop stall.
  const bucket = /^raft_tick_interval_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\} ([0-9.e+-]+)$/gm;
  const countsBefore = new Map<string, number>();
  for (const m of before.matchAll(bucket)) countsBefore.set(m[1]!, Number(m[2]));
  const deltas = [...after.matchAll(bucket)].map((m) => ({
    le: m[1] === "+Inf" ? Infinity : Number(m[1]) * 1000,
    count: Number(m[2]) - (countsBefore.get(m[1]!) ?? 0),
  }));
  const total = deltas.find((d) => d.le === Infinity)?.count ?? 0;
  const maxTickIntervalMs = deltas.find((d) => d.count === total)?.le ?? 0;
  const p99TickIntervalMs = deltas.find((d) => d.count >= total * 0.99)?.le ?? 0;
  return {
    rssMb: round(metric(after, "process_resident_memory_bytes") / (1024 * 1024), 1),
    writes,
    fsyncs,
    fsyncMeanMs: fsyncs > 0 ? round(fsyncSeconds * 1000 / fsyncs, 3) : 0,
    writeMeanMs: writes > 0
      ? round(delta("raft_storage_write_duration_seconds_sum") * 1000 / writes, 3)
      : 0,
    entriesPerWrite: fsyncs > 0 ? round(entries / fsyncs, 1) : 0,
    maxTickIntervalMs,
    p99TickIntervalMs,
  };
}

async function applyCase(
  cluster: RaftCluster,
  client: LoadClient,
  name: string,
  concurrency: number,
  count: number,
  seconds: number,
  command: string,
): Promise<BenchResult> {
  const leader = await cluster.waitForLeader();
  const address = cluster.node(leader.nodeId).grpcAddr;
  const followers = cluster.nodes.filter((n) => n.id !== leader.nodeId && n.process);
  const before = await cluster.metrics(leader.nodeId);
  const followersBefore = await Promise.all(followers.map((n) => cluster.metrics(n.id)));
  const load = await loadInAnotherProcess(client, address, concurrency, count, seconds, name);
  const after = await cluster.metrics(leader.nodeId);
  const followersAfter = await Promise.all(followers.map((n) => cluster.metrics(n.id)));
  const leaderChanges = metric(after, "raft_leader_changes_total") -
    metric(before, "raft_leader_changes_total") +
    followers.reduce(
      (sum, _, i) =>
        sum + metric(followersAfter[i]!, "raft_leader_changes_total") -
        metric(followersBefore[i]!, "raft_leader_changes_total"),
      0,
    );
  const server = serverFigures(before, after);
  // The scrapes bracket the whole load process, its warm-up Applies included: every node's
  // fsyncs and CPU are divided by the Applies the leader took between the same two scrapes,
  // not by the measured ones alone (load.ops, which leaves the warm-up out).
  const applies = appliesBetween(before, after);
  // CPU per Apply (user + system, from each node's process_cpu_seconds_total): a figure of
  // the work done, steadier than throughput on a machine shared with other work.
  const cpuUs = (a: string, b: string) =>
    perApply(a, b, "process_cpu_seconds_total", applies) * 1e6;
  const leaderCpuUs = cpuUs(before, after);
  const followerCpuUs = followers.map((_, i) => cpuUs(followersBefore[i]!, followersAfter[i]!));
  // fsyncs of each node's log per Apply (raft_storage_fsyncs: fdatasyncs of the log's
  // segments, or SQLite WAL commits).
  const fsyncsPerApply = (a: string, b: string) => perApply(a, b, "raft_storage_fsyncs", applies);
  const leaderFsyncs = fsyncsPerApply(before, after);
  const followerFsyncs = followers.map((_, i) =>
    fsyncsPerApply(followersBefore[i]!, followersAfter[i]!)
  );
  const mean = (values: number[]) =>
    values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
  const latencies = load.latenciesMs;
  const opsPerS = load.ops / (load.elapsedMs / 1000);
  return {
    suite: SUITE,
    case: name,
    ops_per_s: round(opsPerS, 0),
    p50_ms: round(percentile(latencies, 50), 2),
    p99_ms: round(percentile(latencies, 99), 2),
    p999_ms: round(percentile(latencies, 99.9), 2),
    max_ms: round(percentile(latencies, 100), 2),
    rss_mb: server.rssMb,
    params: {
      nodes: 3,
      concurrency,
      client: `${client} grpc-js, 1 channel to the leader`,
      value_bytes: VALUE_BYTES,
      ops: load.ops,
      errors: load.errors,
      // The denominator of the per-Apply figures: load.ops plus the warm-up Applies.
      applies_in_window: applies,
      seconds: round(load.elapsedMs / 1000, 1),
      fsync: true,
      leader_changes: leaderChanges,
      fsyncs_per_apply_leader: round(leaderFsyncs, 3),
      fsyncs_per_apply_follower: round(mean(followerFsyncs), 3),
      cpu_us_per_apply_leader: round(leaderCpuUs, 0),
      cpu_us_per_apply_follower: round(mean(followerCpuUs), 0),
      cpu_us_per_apply_cluster: round(leaderCpuUs + followerCpuUs.reduce((a, b) => a + b, 0), 0),
    },
    command,
    note:
      `${leaderChanges} leader changes seen by the nodes during the run (spurious elections); ` +
      `leader: ${server.writes} writes, ${server.fsyncs} with fsync (mean ${server.fsyncMeanMs} ms), ` +
      `${server.entriesPerWrite} entries per fsync (group commit); ` +
      `fsyncs per Apply: leader ${round(leaderFsyncs, 3)}, followers ${
        followerFsyncs.map((n) => round(n, 3)).join(" and ")
      }; ` +
      `tick intervals (event-loop stalls): p99 <= ${server.p99TickIntervalMs} ms, ` +
      `max <= ${server.maxTickIntervalMs} ms (tick ${TICK_MS} ms); ` +
      `CPU per Apply: leader ${round(leaderCpuUs, 0)} us, followers ${
        followerCpuUs.map((us) => round(us, 0)).join(" and ")
      } us, client ${round(load.cpuMs * 1000 / Math.max(1, load.ops), 0)} us; ` +
      `client CPU ${round(load.cpuMs / load.elapsedMs * 100, 0)}%`,
  };
}

/** How a failover case takes the leader away: killed, frozen or cut off from its peers. */
type FailoverMode = "kill" | "pause" | "partition" | "stop";

async function failoverCase(
  cluster: RaftCluster,
  mode: FailoverMode,
  kills: number,
  command: string,
  progress: (line: string) => void,
): Promise<BenchResult> {
  const name = mode === "kill" ? "failover" : `failover-${mode}`;
  const times: number[] = [];
  let probe = 0;
  for (let k = 0; k < kills; k++) {
    const leader = await cluster.waitForLeader({ timeoutMs: 30_000 });
    // Let the followers settle into the leader's heartbeats, as in steady operation.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const killedAt = performance.now();
    // A planned stop (SIGTERM): the leader hands over before it exits (RaftNode.stop).
    const stopped = mode === "stop" ? cluster.kill(leader.nodeId, "SIGTERM") : undefined;
    if (mode === "kill") await cluster.kill(leader.nodeId, "SIGKILL");
    else if (mode === "pause") Deno.kill(cluster.node(leader.nodeId).process!.pid, "SIGSTOP");
    else if (mode === "partition") {
      const admin = cluster.admin(leader.nodeId);
      await unary(admin, admin.partition, { peers: [] });
    }
    for (;;) {
      // Any node but the one taken away: a partitioned leader still answers until it steps
      // down, with entries that cannot commit.
      const running = cluster.nodes.filter((n) => n.process && n.id !== leader.nodeId);
      const results = await Promise.allSettled(running.map(async (node) => {
        const client = cluster.nodeClient(node.id);
        const response = await unary(client, client.apply, {
          orderId: `failover-${k}-${probe++}`,
          payload: new Uint8Array(VALUE_BYTES),
          outcome: { status: OrderStatus.ORDER_STATUS_ACCEPTED, reason: "" },
          symbol: "",
          positionDelta: 0,
          maxPosition: 0,
        }, { deadlineMs: 300 });
        if (response.result !== ApplyResult.APPLY_RESULT_APPLIED) throw new Error("not leader");
      }));
      if (results.some((r) => r.status === "fulfilled")) break;
      if (performance.now() - killedAt > 30_000) {
        throw new Error(`No Apply succeeded within 30 s of killing node ${leader.nodeId}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const ms = performance.now() - killedAt;
    times.push(ms);
    progress(`raft: ${name} ${k + 1}/${kills}: ${Math.round(ms)} ms`);
    if (stopped !== undefined) await stopped;
    if (mode === "kill" || mode === "stop") cluster.spawn(leader.nodeId);
    else if (mode === "pause") Deno.kill(cluster.node(leader.nodeId).process!.pid, "SIGCONT");
    else if (mode === "partition") {
      const admin = cluster.admin(leader.nodeId);
      await unary(admin, admin.heal, {});
    }
    const current = await cluster.waitForLeader({ timeoutMs: 30_000 });
    await cluster.waitForApplied(leader.nodeId, current.commitIndex, 30_000);
  }
  const electionTimeoutMs = TICK_MS * ELECTION_TICKS;
  const within = times.filter((t) => t <= 2 * electionTimeoutMs).length;
  return {
    suite: SUITE,
    case: name,
    p50_ms: round(percentile(times, 50), 0),
    p99_ms: round(percentile(times, 99), 0),
    max_ms: round(percentile(times, 100), 0),
    params: {
      nodes: 3,
      kills,
      mode,
      tick_ms: TICK_MS,
      election_ticks: ELECTION_TICKS,
      heartbeat_ticks: HEARTBEAT_TICKS,
    },
    command,
    note:
      `leader ${
        { kill: "SIGKILL", pause: "SIGSTOP", partition: "partitioned", stop: "SIGTERM" }[mode]
      } to first successful Apply on another node; election timeout ${electionTimeoutMs} ms ` +
      `(randomized ${electionTimeoutMs}-${2 * electionTimeoutMs - TICK_MS} ms); ` +
      `${within}/${kills} within 2 election timeouts; min ${Math.round(Math.min(...times))} ms`,
  };
}

/** Runs the raft suite. */
export async function run(options: BenchOptions): Promise<BenchResult[]> {
  const seconds = Number(options.args["seconds"] ?? (options.quick ? 3 : 10));
  const kills = Number(options.args["kills"] ?? (options.quick ? 5 : 20));
  const count = Number(options.args["count"] ?? 100_000);
  const cases = (options.args["cases"] ?? "apply-seq,apply-64-concurrent,failover").split(",");
  // The etcd anchor's load client is Node.js grpc-js; Deno's grpc-js client alone tops out
  // near 4,000 calls/s on this machine, so the default measures with the anchor's kind.
  const client: LoadClient = options.args["client"] === "deno" || !(await hasNode())
    ? "deno"
    : "node";
  // `--transport=grpc|tcp`: the nodes' RAFT_TRANSPORT (else this environment's, else theirs).
  const transport = options.args["transport"] ?? Deno.env.get("RAFT_TRANSPORT") ??
    RAFT_NODE_DEFAULTS.transport;
  if (transport !== "grpc" && transport !== "tcp") {
    throw new Error(`Invalid --transport "${transport}": expected grpc or tcp`);
  }
  // `--storage=sqlite|log`: the nodes' RAFT_STORAGE (else this environment's, else theirs).
  const storage = options.args["storage"] ?? Deno.env.get("RAFT_STORAGE") ??
    RAFT_NODE_DEFAULTS.storage;
  if (storage !== "sqlite" && storage !== "log") {
    throw new Error(`Invalid --storage "${storage}": expected sqlite or log`);
  }
  const extra = Object.entries(options.args).map(([k, v]) => ` --${k}=${v}`).join("");
  const command = `deno task bench raft${options.quick ? " --quick" : ""}${extra}`;
  const dir = await Deno.makeTempDir({ prefix: "bench-raft-" });
  const results: BenchResult[] = [];
  try {
    options.progress("raft: starting 3 nodes");
    const cluster = await RaftCluster.start({
      dir,
      env: {
        RAFT_TICK_MS: String(TICK_MS),
        RAFT_ELECTION_TICKS: String(ELECTION_TICKS),
        RAFT_HEARTBEAT_TICKS: String(HEARTBEAT_TICKS),
        RAFT_TRANSPORT: transport,
        RAFT_STORAGE: storage,
        LOG_LEVEL: "warn",
      },
      // `--prof-dir=DIR` profiles every node (deno --cpu-prof) into DIR.
      ...(options.args["prof-dir"]
        ? { denoArgs: ["--cpu-prof", `--cpu-prof-dir=${options.args["prof-dir"]}`] }
        : {}),
    });
    try {
      if (cases.includes("apply-seq")) {
        options.progress(`raft: apply-seq for ${seconds} s`);
        results.push(await applyCase(cluster, client, "apply-seq", 1, count, seconds, command));
      }
      if (cases.includes("apply-64-concurrent")) {
        options.progress(`raft: apply-64-concurrent for ${seconds} s`);
        results.push(
          await applyCase(cluster, client, "apply-64-concurrent", 64, count, seconds, command),
        );
      }
      for (const mode of ["kill", "pause", "partition", "stop"] as const) {
        const name = mode === "kill" ? "failover" : `failover-${mode}`;
        if (!cases.includes(name)) continue;
        options.progress(`raft: ${name} x ${kills}`);
        results.push(await failoverCase(cluster, mode, kills, command, options.progress));
      }
    } finally {
      // A profiled node writes its profile only when it exits by itself.
      await cluster.stopAll(options.args["prof-dir"] ? "SIGTERM" : "SIGKILL");
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  return results.map((result) => ({ ...result, params: { ...result.params, transport, storage } }));
}

if (import.meta.main) {
  const args: Record<string, string> = {};
  for (const arg of Deno.args) {
    const match = /^--([^=]+)=(.*)$/.exec(arg);
    if (match) args[match[1]!] = match[2]!;
  }
  if (Deno.args.includes("--load")) {
    const result = await runLoad(
      args["address"]!,
      Number(args["concurrency"] ?? 1),
      Number(args["count"] ?? 100_000),
      Number(args["seconds"] ?? 10),
      Number(args["warmup"] ?? 200),
      args["prefix"] ?? "order",
    );
    console.log(JSON.stringify(result));
    Deno.exit(0);
  } else {
    const results = await run({
      quick: Deno.args.includes("--quick"),
      args,
      progress: (line) => console.error(line),
    });
    for (const r of results) console.log(JSON.stringify(r));
  }
}
