/**
 * A raft-node's default ports, written once: its config (config.ts) takes them from here, and
 * the supervisor's child specs give node N of a pipeline these plus N - 1. (The addresses in
 * shared/runtime/config.ts `raftEnv` and `raftClientEnv`, 127.0.0.1:7000 and 127.0.0.1:50070, are the
 * same ports: shared code cannot import a service.)
 *
 * @module
 */

/**
 * A raft-node's default ports (client gRPC, HTTP for health and metrics, the Raft transport)
 * its default peer transport (`RAFT_TRANSPORT`) and its default storage (`RAFT_STORAGE`).
 */
export const RAFT_NODE_DEFAULTS = {
  ports: { grpc: 50070, http: 8080, raft: 7000 },
  transport: "grpc",
  storage: "log",
} as const;
