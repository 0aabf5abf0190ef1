/**
 * The Prometheus metrics of a raft-node (through shared/runtime/metrics.ts). Gauges read the node's
 * state at scrape time, so the hot path only observes histograms and bumps counters.
 *
 * @module
 */
import { counter, gauge, LATENCY_BUCKETS_SECONDS } from "@trading/shared/metrics";
import type { prom } from "@trading/shared/metrics";
import type { Role } from "./core/types.ts";
import type { ApplyOutcome } from "./state_machine.ts";
import { FastHistogram, type HistogramSeries } from "./fast_histogram.ts";

/** The numeric value of `raft_role`. */
export const ROLE_VALUE: Record<Role, number> = {
  follower: 0,
  "pre-candidate": 1,
  candidate: 2,
  leader: 3,
};

/** What the metrics read from a node at scrape time. */
export interface MetricsSource {
  readonly role: Role;
  readonly term: number;
  readonly snapshotsInstalled: number;
  readonly lastWriteMs: number;
  readonly storageFsyncs: number;
  status(): {
    commit: number;
    applied: number;
    lastIndex: number;
    snapshotIndex: number;
    conf: { voters: readonly string[]; learners: readonly string[] };
  };
  readonly stateMachine: { readonly size: number };
  readonly transport: {
    readonly counters: {
      readonly sent: ReadonlyMap<string, number>;
      readonly dropped: ReadonlyMap<string, number>;
      readonly received: number;
      readonly snapshotsReceived: number;
      readonly unaryReceived: number;
    };
    readonly chaos: { readonly dropped: number; readonly delayed: number };
  };
}

/** The metrics of one node. */
export class RaftNodeMetrics {
  /** Proposals accepted by the core (Apply on the leader). */
  readonly proposals: prom.Counter;
  /** ApplyBatch calls served (each records several orders). */
  readonly applyBatches: prom.Counter;
  readonly leaderChanges: prom.Counter;
  /** Followers' leaders forgotten because the connection to them closed. */
  readonly leaderGone: prom.Counter;
  readonly snapshotsTaken: prom.Counter;
  /** Apply latency as the client API sees it (propose to applied), by result. */
  readonly applySeconds: Readonly<Record<ApplyOutcome["result"], HistogramSeries>>;
  /** Linearizable read latency (ReadIndex round and apply wait). */
  readonly readIndexSeconds: FastHistogram;
  /** Time to persist one Ready that wrote a transaction (fsynced: `sync="true"`). */
  readonly fsyncSeconds: HistogramSeries;
  /** Entries persisted per Ready: the group-commit batch size. */
  readonly readyEntries: FastHistogram;
  /** Interval between tick timer firings: event-loop stalls show as intervals above RAFT_TICK_MS. */
  readonly tickIntervalSeconds: FastHistogram;

  constructor(source: MetricsSource) {
    this.proposals = counter("raft_proposals_total", "Proposals accepted by the Raft core.");
    this.applyBatches = counter(
      "raft_apply_batches_total",
      "ApplyBatch calls answered with an outcome per order.",
    );
    this.leaderChanges = counter("raft_leader_changes_total", "Leader changes seen by this node.");
    this.leaderGone = counter(
      "raft_leader_connection_closed_total",
      "Times this follower's connection to its leader closed and it campaigned at once.",
    );
    this.snapshotsTaken = counter(
      "raft_snapshots_taken_total",
      "Snapshots taken (log compactions).",
    );
    // Observed for every Ready and every Apply: FastHistogram (see its module doc).
    const applySeconds = FastHistogram.create(
      "raft_apply_duration_seconds",
      "Apply latency from the request to the applied entry.",
      ["result"],
      LATENCY_BUCKETS_SECONDS,
    );
    this.applySeconds = {
      applied: applySeconds.series({ result: "applied" }),
      duplicate: applySeconds.series({ result: "duplicate" }),
      conflict: applySeconds.series({ result: "conflict" }),
    };
    this.readIndexSeconds = FastHistogram.create(
      "raft_read_index_duration_seconds",
      "Linearizable read latency (ReadIndex confirmation and apply wait).",
      [],
      LATENCY_BUCKETS_SECONDS,
    );
    this.fsyncSeconds = FastHistogram.create(
      "raft_storage_write_duration_seconds",
      "Time to persist one Ready: its SQLite transaction, then its fsync when sync=true.",
      ["sync"],
      LATENCY_BUCKETS_SECONDS,
    ).series({ sync: "true" });
    this.readyEntries = FastHistogram.create(
      "raft_ready_entries",
      "Log entries persisted per Ready (group-commit batch size).",
      [],
      [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    );
    this.tickIntervalSeconds = FastHistogram.create(
      "raft_tick_interval_seconds",
      "Interval between two ticks; above RAFT_TICK_MS means the event loop stalled.",
      [],
      [0.005, 0.01, 0.012, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1],
    );
    const value = (name: string, help: string, read: () => number) =>
      gauge(name, help, [], function () {
        this.set(read());
      });
    value(
      "raft_role",
      "Role: 0 follower, 1 pre-candidate, 2 candidate, 3 leader.",
      () => ROLE_VALUE[source.role],
    );
    value("raft_term", "Current term.", () => source.term);
    value("raft_commit_index", "Highest committed index.", () => source.status().commit);
    value("raft_applied_index", "Highest applied index.", () => source.status().applied);
    value("raft_last_index", "Index of the last log entry.", () => source.status().lastIndex);
    value(
      "raft_snapshot_index",
      "Index of the latest snapshot.",
      () => source.status().snapshotIndex,
    );
    value("raft_voters", "Voters in the membership.", () => source.status().conf.voters.length);
    value(
      "raft_learners",
      "Learners in the membership.",
      () => source.status().conf.learners.length,
    );
    value("raft_orders", "Order ids stored in the state machine.", () => source.stateMachine.size);
    value(
      "raft_snapshots_installed",
      "Snapshots received from a leader and installed since start.",
      () => source.snapshotsInstalled,
    );
    value(
      "raft_transport_snapshots_received",
      "InstallSnapshot messages received since start.",
      () => source.transport.counters.snapshotsReceived,
    );
    value(
      "raft_transport_messages_received",
      "Messages received and handed to the core since start.",
      () => source.transport.counters.received,
    );
    value(
      "raft_transport_unary_received",
      "Requests received through the unary transport RPCs since start.",
      () => source.transport.counters.unaryReceived,
    );
    value(
      "raft_chaos_dropped",
      "Messages dropped by chaos or a partition since start.",
      () => source.transport.chaos.dropped,
    );
    value(
      "raft_chaos_delayed",
      "Messages delayed by chaos since start.",
      () => source.transport.chaos.delayed,
    );
    value(
      "raft_storage_fsyncs",
      "fsyncs of the storage's log (or SQLite WAL) since start.",
      () => source.storageFsyncs,
    );
    value(
      "raft_storage_last_write_ms",
      "Milliseconds of the last storage transaction (without its fsync).",
      () => source.lastWriteMs,
    );
    const byLabel = (
      name: string,
      help: string,
      label: string,
      read: () => ReadonlyMap<string, number>,
    ) =>
      gauge(name, help, [label], function () {
        for (const [key, n] of read()) this.set({ [label]: key }, n);
      });
    byLabel(
      "raft_transport_messages_sent",
      "Messages handed to gRPC since start, by kind.",
      "type",
      () => source.transport.counters.sent,
    );
    byLabel(
      "raft_transport_messages_dropped",
      "Messages not sent or not delivered since start, by reason.",
      "reason",
      () => source.transport.counters.dropped,
    );
  }
}
