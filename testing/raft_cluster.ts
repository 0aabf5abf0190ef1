/**
 * A real raft-node cluster for tests and benchmarks: every node is a child process
 * (`deno run -A main.ts raft-node`) on free loopback ports with its own data directory.
 * Node 1 bootstraps, the others join through it. Test and benchmark code only.
 *
 * @module
 */
import { RaftAdminClient, RaftNodeClient, type StatusResponse } from "@trading/proto/raft";
import { insecure, unary } from "@trading/shared/grpc";
import {
  RAFT_CHANNEL_OPTIONS,
  RaftClient,
  type RaftClientOptions,
} from "@trading/shared/raft-client";
import { freePorts } from "./free_port.ts";
import { SpawnedProcess } from "./spawned_process.ts";
import { waitFor } from "./wait_for.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** Options of {@linkcode RaftCluster.start}. */
export interface RaftClusterOptions {
  /** Directory for the nodes' data (each node gets `<dir>/<id>`). */
  readonly dir: string;
  /** Number of nodes. Default 3. */
  readonly size?: number;
  /** Extra environment for every node (RAFT_TICK_MS, RAFT_SNAPSHOT_ENTRIES, CHAOS_*, ...). */
  readonly env?: Record<string, string>;
  /** Extra environment per node id. */
  readonly nodeEnv?: Record<string, Record<string, string>>;
  /** Echo every node's output to this process's stderr (debugging). */
  readonly echo?: boolean;
  /** Extra `deno run` flags for every node, e.g. `["--cpu-prof", "--cpu-prof-dir=/tmp/p"]`. */
  readonly denoArgs?: readonly string[];
}

/** One node of a {@linkcode RaftCluster}. */
export interface ClusterNode {
  readonly id: string;
  readonly grpcAddr: string;
  readonly raftAddr: string;
  readonly httpPort: number;
  readonly dataDir: string;
  /** The running process, if any. */
  process: Deno.ChildProcess | undefined;
  /** Exit code of the last process once it ended. */
  exitCode: number | undefined;
  /** Every line the node wrote (stdout and stderr), across restarts. */
  readonly output: string[];
}

/**
 * A cluster of raft-node processes.
 *
 * @example
 * ```ts
 * await using cluster = await RaftCluster.start({ dir: tmp.path });
 * const leader = await cluster.waitForLeader();
 * await cluster.kill(leader.id);
 * ```
 */
export class RaftCluster {
  readonly nodes: ClusterNode[];
  #options: RaftClusterOptions;
  #statusClients = new Map<string, RaftNodeClient>();
  #adminClients = new Map<string, RaftAdminClient>();
  #exits = new Map<string, Promise<void>>();
  #clients: RaftClient[] = [];
  #killing = new Set<string>();
  #unexpected: string[] = [];

  private constructor(options: RaftClusterOptions, nodes: ClusterNode[]) {
    this.#options = options;
    this.nodes = nodes;
  }

  /**
   * Starts node 1 with RAFT_BOOTSTRAP, waits until it leads, then starts the others with
   * RAFT_JOIN_ADDR and waits until every node is a voter.
   */
  static async start(options: RaftClusterOptions): Promise<RaftCluster> {
    const size = options.size ?? 3;
    const ports = freePorts(size * 3);
    const nodes: ClusterNode[] = Array.from({ length: size }, (_, i) => ({
      id: String(i + 1),
      grpcAddr: `127.0.0.1:${ports[i * 3]}`,
      raftAddr: `127.0.0.1:${ports[i * 3 + 1]}`,
      httpPort: ports[i * 3 + 2]!,
      dataDir: `${options.dir}/${i + 1}`,
      process: undefined,
      exitCode: undefined,
      output: [],
    }));
    const cluster = new RaftCluster(options, nodes);
    try {
      cluster.spawn("1", { RAFT_BOOTSTRAP: "true" });
      await waitFor("node 1 to lead", async () => (await cluster.status("1")).role === "leader", {
        timeoutMs: 20_000,
      });
      for (const node of nodes.slice(1)) {
        cluster.spawn(node.id, { RAFT_JOIN_ADDR: nodes[0]!.grpcAddr });
      }
      await cluster.waitForVoters(size, 30_000);
      // Also (re)connects this process's channel to every node: a channel that met a node
      // not yet listening fails calls at once until its reconnect backoff ends.
      for (const node of nodes) await cluster.waitForNode(node.id);
    } catch (error) {
      await cluster.stopAll();
      throw new Error(`Cluster did not form: ${error}\n${cluster.tail()}`);
    }
    return cluster;
  }

  /** The node with id `id`. */
  node(id: string): ClusterNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) {
      throw new Error(`Unknown node "${id}": expected one of ${this.nodes.map((n) => n.id)}`);
    }
    return node;
  }

  /** Every node's client address. */
  get addresses(): string[] {
    return this.nodes.map((n) => n.grpcAddr);
  }

  /** Starts (or restarts) the process of node `id` with its usual environment plus `extra`. */
  spawn(id: string, extra: Record<string, string> = {}): void {
    const node = this.node(id);
    if (node.process) throw new Error(`Node ${id} is running: expected it stopped before spawn`);
    const env: Record<string, string> = {
      ...Deno.env.toObject(),
      TRADING_SUPERVISED: "",
      RAFT_NODE_ID: node.id,
      PORT_GRPC: node.grpcAddr.split(":")[1]!,
      PORT_HTTP: String(node.httpPort),
      RAFT_BIND_ADDR: node.raftAddr,
      RAFT_ADVERTISE_ADDR: "",
      RAFT_DATA_DIR: node.dataDir,
      RAFT_BOOTSTRAP: "",
      RAFT_JOIN_ADDR: "",
      LOG_LEVEL: "info",
      ...this.#options.env,
      ...this.#options.nodeEnv?.[id],
      ...extra,
    };
    const spawned = SpawnedProcess.spawn(
      Deno.execPath(),
      ["run", "-A", "--frozen", ...(this.#options.denoArgs ?? []), MAIN, "raft-node"],
      { env, output: node.output, ...(this.#options.echo ? { echo: id } : {}) },
    );
    const child = spawned.child;
    node.process = child;
    node.exitCode = undefined;
    const exited = spawned.exited().then(
      (status) => {
        node.exitCode = status.code;
        if (node.process === child) node.process = undefined;
        if (!this.#killing.delete(id)) {
          this.#unexpected.push(`node ${id} exited by itself with code ${status.code}`);
        }
      },
    );
    this.#exits.set(id, exited);
  }

  /** Sends `signal` to node `id` and waits until its process has exited. */
  async kill(id: string, signal: Deno.Signal = "SIGKILL"): Promise<void> {
    const node = this.node(id);
    const child = node.process;
    if (!child) return;
    this.#killing.add(id);
    try {
      child.kill(signal);
    } catch { /* already exited */ }
    await this.#exits.get(id);
  }

  /** Waits until node `id`'s process exits by itself and returns its exit code. */
  async waitForExit(id: string, timeoutMs = 20_000): Promise<number | undefined> {
    const exited = this.#exits.get(id);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const result = await Promise.race([exited, timeout]);
    clearTimeout(timer);
    if (result === "timeout") throw new Error(`Node ${id} did not exit within ${timeoutMs} ms`);
    this.#unexpected = this.#unexpected.filter((line) => !line.startsWith(`node ${id} `));
    return this.node(id).exitCode;
  }

  #statusClient(id: string): RaftNodeClient {
    let client = this.#statusClients.get(id);
    if (!client) {
      client = new RaftNodeClient(this.node(id).grpcAddr, insecure(), RAFT_CHANNEL_OPTIONS);
      this.#statusClients.set(id, client);
    }
    return client;
  }

  /** A raw client of node `id`'s RaftNode service (kept open by the cluster). */
  nodeClient(id: string): RaftNodeClient {
    return this.#statusClient(id);
  }

  /** A client of node `id`'s RaftAdmin service (kept open by the cluster). */
  admin(id: string): RaftAdminClient {
    let client = this.#adminClients.get(id);
    if (!client) {
      client = new RaftAdminClient(this.node(id).grpcAddr, insecure(), RAFT_CHANNEL_OPTIONS);
      this.#adminClients.set(id, client);
    }
    return client;
  }

  /** Node `id`'s Status (one call, 1 s deadline). */
  status(id: string): Promise<StatusResponse> {
    const client = this.#statusClient(id);
    return unary(client, client.status, {}, { deadlineMs: 1000 });
  }

  /** The statuses of the running nodes that answer. */
  async statuses(): Promise<StatusResponse[]> {
    const running = this.nodes.filter((n) => n.process);
    const results = await Promise.allSettled(running.map((n) => this.status(n.id)));
    return results.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
  }

  /**
   * Waits until one running node leads and the others that answer follow it (optionally a
   * leader other than `not`), and returns its status.
   */
  async waitForLeader(
    { timeoutMs = 15_000, not }: { timeoutMs?: number; not?: string } = {},
  ): Promise<StatusResponse> {
    return await waitFor(`a leader${not ? ` other than ${not}` : ""}`, async () => {
      const statuses = await this.statuses();
      const leaders = statuses.filter((s) => s.role === "leader" && s.nodeId !== not);
      if (leaders.length !== 1) return undefined;
      const leader = leaders[0]!;
      return statuses.every((s) => s.leaderId === leader.nodeId) ? leader : undefined;
    }, { timeoutMs, intervalMs: 25 });
  }

  /** Waits until node `id` answers Status and knows a leader (after a spawn, for example). */
  async waitForNode(id: string, timeoutMs = 20_000): Promise<StatusResponse> {
    return await waitFor(`node ${id} to follow a leader`, async () => {
      const status = await this.status(id);
      return status.leaderId !== "" ? status : undefined;
    }, { timeoutMs, intervalMs: 25 });
  }

  /** Waits until the leader reports `count` voters. */
  async waitForVoters(count: number, timeoutMs = 20_000): Promise<void> {
    await waitFor(`${count} voters`, async () => {
      const leader = (await this.statuses()).find((s) => s.role === "leader");
      return leader !== undefined && leader.members.filter((m) => m.voter).length === count;
    }, { timeoutMs, intervalMs: 50 });
  }

  /** Waits until node `id` has applied at least `index`. */
  async waitForApplied(id: string, index: number, timeoutMs = 20_000): Promise<StatusResponse> {
    return await waitFor(`node ${id} to apply ${index}`, async () => {
      const status = await this.status(id);
      return status.appliedIndex >= index ? status : undefined;
    }, { timeoutMs, intervalMs: 50 });
  }

  /**
   * Exits no test asked for (a node that crashed or exited by itself), as sentences. A node
   * expected to exit by itself is taken off the list by {@linkcode waitForExit}.
   */
  get unexpectedExits(): readonly string[] {
    return this.#unexpected;
  }

  /** Node `id`'s Prometheus metrics text. */
  async metrics(id: string): Promise<string> {
    const response = await fetch(`http://127.0.0.1:${this.node(id).httpPort}/metrics`);
    return await response.text();
  }

  /**
   * A {@linkcode RaftClient} over every node, closed by {@linkcode stopAll} once the nodes
   * are down: closing it while they run could abort one (shared/grpc/grpc.ts
   * `DENO_GOAWAY_WORKAROUND`).
   */
  client(options: Partial<RaftClientOptions> = {}): RaftClient {
    const client = new RaftClient({ addresses: this.addresses, ...options });
    this.#clients.push(client);
    return client;
  }

  /** The last `lines` lines of every node's output, for failure messages. */
  tail(lines = 30): string {
    return this.nodes.map((n) =>
      `--- node ${n.id} (exit ${n.exitCode ?? "running"})\n${n.output.slice(-lines).join("\n")}`
    ).join("\n");
  }

  /** Signals every running node (SIGKILL by default) and waits for them; closes the clients. */
  async stopAll(signal: Deno.Signal = "SIGKILL"): Promise<void> {
    // A process that receives a GOAWAY on a session that carried many calls can abort
    // (shared/grpc/grpc.ts `DENO_GOAWAY_WORKAROUND`). A node killed outright sends none, so this process's
    // clients close after the nodes are gone; a node stopped gracefully sends one on
    // shutdown, so then this process's clients go first.
    const closeClients = () => {
      for (const client of this.#clients) client.close();
      this.#clients = [];
      for (const client of this.#statusClients.values()) client.close();
      for (const client of this.#adminClients.values()) client.close();
      this.#statusClients.clear();
      this.#adminClients.clear();
    };
    if (signal !== "SIGKILL") closeClients();
    await Promise.all(this.nodes.map((n) => this.kill(n.id, signal)));
    closeClients();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stopAll();
  }
}
