/**
 * The configuration of a raft-node process: the shared blocks (`commonEnv`, `raftEnv`,
 * `chaosEnv`) plus the timing and snapshot knobs of this service, validated at the edge.
 *
 * Timing defaults (loopback, 50-250 ms chaos delays): one tick is 10 ms, a leader sends a
 * heartbeat every 10 ticks (100 ms) and a follower campaigns after 50-99 ticks (500-990 ms)
 * without a leader. Pre-vote and check-quorum keep a healthy leader in place when a
 * follower merely lost a few heartbeats to chaos; a dead leader is replaced in about one
 * election timeout. The fine tick matters: with two survivors, both drawing the same
 * timeout means a split vote and a second round, and 50 possible draws make that rarer than
 * 10 do (measured with 50 ms ticks: 1 failover in 20 took two rounds, 1.8 s).
 *
 * @module
 */
import {
  bool,
  chaosEnv,
  commonEnv,
  int,
  loadConfig,
  oneOf,
  parseHostPort,
  port,
  raftEnv,
  requireClusterSecretBeyondLoopback,
} from "@trading/shared/config";
import { ConfigError } from "@trading/shared/config";
import { parseChaosProfile } from "@trading/shared/chaos";
import { RAFT_NODE_DEFAULTS as DEFAULTS } from "./defaults.ts";
import { PEER_TRANSPORT_KINDS, type PeerTransportKind } from "./transport/peer_transport.ts";
import { STORAGE_KINDS, type StorageKind } from "./storage/node_storage.ts";
import { DEFAULT_PREALLOCATE_BYTES } from "./storage/log_file.ts";

/** The fewest bytes RAFT_LOG_PREALLOCATE_BYTES may name, unless 0 (off). */
const MIN_PREALLOCATE_BYTES = 4096;

/** The environment schema of a raft-node. */
export const raftNodeEnv = {
  ...commonEnv({ grpcPort: DEFAULTS.ports.grpc, httpPort: DEFAULTS.ports.http }),
  // Peers redirect clients to this port, so it must be a real one (0 is refused).
  PORT_GRPC: port(DEFAULTS.ports.grpc),
  ...raftEnv,
  ...chaosEnv,
  /** Milliseconds per Raft tick. */
  RAFT_TICK_MS: int(1, 10_000, 10),
  /** Ticks without a leader before a follower campaigns (randomized up to twice that). */
  RAFT_ELECTION_TICKS: int(2, 10_000, 50),
  /** Ticks between a leader's heartbeats; must be below RAFT_ELECTION_TICKS. */
  RAFT_HEARTBEAT_TICKS: int(1, 10_000, 10),
  /**
   * Applied entries between two snapshots (log compaction), at least; a node also waits for
   * as many entries as it stores orders, so that snapshot cost stays O(1) per entry.
   */
  RAFT_SNAPSHOT_ENTRIES: int(1, 100_000_000, 10_000),
  /** Entries kept in the log behind a snapshot, so slightly lagging followers get entries. */
  RAFT_SNAPSHOT_RETAIN: int(0, 100_000_000, 1_000),
  /** How long Apply waits for commit before answering DEADLINE_EXCEEDED (outcome unknown). */
  RAFT_APPLY_TIMEOUT_MS: int(10, 600_000, 5_000),
  /** Interval of the "raft status" log line; 0 disables it. */
  RAFT_STATUS_LOG_MS: int(0, 3_600_000, 10_000),
  /**
   * The peer transport on RAFT_BIND_ADDR: gRPC over HTTP/2 (`grpc`) or length-prefixed frames
   * over TCP (`tcp`, transport/tcp_transport.ts). Every node of a cluster must use the same.
   */
  RAFT_TRANSPORT: oneOf(PEER_TRANSPORT_KINDS, DEFAULTS.transport),
  /**
   * The storage under RAFT_DATA_DIR: SQLite (`sqlite`, storage/raft_storage.ts) or an
   * append-only log file with group commit (`log`, storage/log_storage.ts). A SQLite
   * directory is migrated to `log` at its first start with `log`; not back.
   */
  RAFT_STORAGE: oneOf(STORAGE_KINDS, DEFAULTS.storage),
  /**
   * `log` storage: bytes of zeros kept written (and synced) ahead of the segment's write
   * offset, so that a group's fdatasync overwrites allocated space; 0 turns it off.
   */
  RAFT_LOG_PREALLOCATE_BYTES: int(0, 1024 * 1024 * 1024, DEFAULT_PREALLOCATE_BYTES),
  /**
   * gRPC transport only: send through one client stream per peer (true) or one unary call per
   * message (false).
   */
  RAFT_TRANSPORT_STREAM: bool(true),
};

/** A raft-node's validated configuration, with the derived values filled in. */
export interface RaftNodeConfig {
  readonly nodeId: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly logLevel: "debug" | "info" | "warn" | "error";
  /** `CLUSTER_SECRET`: required of every gRPC caller when set. */
  readonly clusterSecret: string | undefined;
  /** Where the transport listens. */
  readonly bindAddr: string;
  /** The transport address other nodes use (RAFT_ADVERTISE_ADDR, else RAFT_BIND_ADDR). */
  readonly raftAddr: string;
  /** The client address other nodes redirect to (127.0.0.1:PORT_GRPC). */
  readonly grpcAddr: string;
  readonly dataDir: string;
  readonly bootstrap: boolean;
  readonly joinAddrs: readonly string[];
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly snapshotEntries: number;
  readonly snapshotRetain: number;
  readonly applyTimeoutMs: number;
  readonly statusLogMs: number;
  /** RAFT_TRANSPORT: which peer transport. */
  readonly transport: PeerTransportKind;
  readonly transportStream: boolean;
  /** RAFT_STORAGE: which storage backend. */
  readonly storage: StorageKind;
  /** RAFT_LOG_PREALLOCATE_BYTES: the log storage's preallocation (0 off). */
  readonly logPreallocateBytes: number;
  readonly chaos: ChaosConfig;
}

/** The chaos settings a node starts with (changeable later through RaftAdmin). */
export interface ChaosConfig {
  readonly enabled: boolean;
  readonly dropPct: number;
  readonly delayMsMin: number;
  readonly delayMsMax: number;
  readonly targetNodeId: string;
  readonly seed: number;
  readonly exitOnLeader: boolean;
}

/**
 * Loads and checks the configuration of a raft-node from `env`. Throws ConfigError (exit
 * code 2) naming the first bad variable.
 */
export function loadRaftNodeConfig(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): RaftNodeConfig {
  const c = loadConfig(raftNodeEnv, env);
  if (c.RAFT_HEARTBEAT_TICKS >= c.RAFT_ELECTION_TICKS) {
    throw new ConfigError(
      "RAFT_HEARTBEAT_TICKS",
      `Invalid RAFT_HEARTBEAT_TICKS "${c.RAFT_HEARTBEAT_TICKS}": expected fewer than RAFT_ELECTION_TICKS (${c.RAFT_ELECTION_TICKS})`,
    );
  }
  const profile = parseChaosProfile(c.CHAOS_PROFILE ?? "");
  const delayMsMin = c.CHAOS_DELAY_MS_MIN ?? profile.delayMsMin;
  const delayMsMax = c.CHAOS_DELAY_MS_MAX ?? Math.max(profile.delayMsMax, delayMsMin);
  if (delayMsMax < delayMsMin) {
    throw new ConfigError(
      "CHAOS_DELAY_MS_MAX",
      `Invalid CHAOS_DELAY_MS_MAX "${delayMsMax}": expected at least CHAOS_DELAY_MS_MIN (${delayMsMin})`,
    );
  }
  const preallocate = c.RAFT_LOG_PREALLOCATE_BYTES;
  if (preallocate !== 0 && preallocate < MIN_PREALLOCATE_BYTES) {
    throw new ConfigError(
      "RAFT_LOG_PREALLOCATE_BYTES",
      `Invalid RAFT_LOG_PREALLOCATE_BYTES "${preallocate}": expected 0 (off) or at least ${MIN_PREALLOCATE_BYTES}`,
    );
  }
  requireClusterSecretBeyondLoopback(c.CLUSTER_SECRET, [
    { variable: "RAFT_BIND_ADDR", host: parseHostPort(c.RAFT_BIND_ADDR)?.host ?? "" },
  ]);
  const raftAddr = c.RAFT_ADVERTISE_ADDR ?? c.RAFT_BIND_ADDR;
  const grpcPort = c.PORT_GRPC;
  const grpcHost = parseHostPort(raftAddr)?.host ?? "127.0.0.1";
  return {
    nodeId: c.RAFT_NODE_ID,
    grpcPort,
    httpPort: c.PORT_HTTP,
    logLevel: c.LOG_LEVEL,
    clusterSecret: c.CLUSTER_SECRET,
    bindAddr: c.RAFT_BIND_ADDR,
    raftAddr,
    grpcAddr: `${grpcHost}:${grpcPort}`,
    dataDir: c.RAFT_DATA_DIR ?? `./.data/raft/${c.RAFT_NODE_ID}`,
    bootstrap: c.RAFT_BOOTSTRAP,
    joinAddrs: c.RAFT_JOIN_ADDR ?? [],
    tickMs: c.RAFT_TICK_MS,
    electionTicks: c.RAFT_ELECTION_TICKS,
    heartbeatTicks: c.RAFT_HEARTBEAT_TICKS,
    snapshotEntries: c.RAFT_SNAPSHOT_ENTRIES,
    snapshotRetain: c.RAFT_SNAPSHOT_RETAIN,
    applyTimeoutMs: c.RAFT_APPLY_TIMEOUT_MS,
    statusLogMs: c.RAFT_STATUS_LOG_MS,
    transport: c.RAFT_TRANSPORT,
    transportStream: c.RAFT_TRANSPORT_STREAM,
    storage: c.RAFT_STORAGE,
    logPreallocateBytes: preallocate,
    chaos: {
      enabled: c.CHAOS_ENABLED,
      dropPct: c.CHAOS_DROP_PCT ?? profile.dropPct,
      delayMsMin,
      delayMsMax,
      targetNodeId: c.CHAOS_TARGET_NODE_ID ?? "",
      seed: c.CHAOS_SEED ?? 1,
      exitOnLeader: c.CHAOS_EXIT_ON_LEADER,
    },
  };
}
