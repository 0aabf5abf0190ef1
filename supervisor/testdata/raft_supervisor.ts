/**
 * Helpers for the tests of the Raft and chaos words: a supervisor over three real raft-node
 * children on free ports. Test code only.
 *
 * @module
 */
import { join } from "node:path";
import { freePorts, waitFor } from "@trading/testing";
import type { ChildSpecInput } from "../supervision/child_spec.ts";
import { LogMultiplexer } from "../supervision/log_multiplexer.ts";
import { leaderOf, raftNodesOf, raftStatuses } from "../control/raft_commands.ts";
import { selfCommand } from "../supervision/self_command.ts";
import { Supervisor } from "../supervision/supervisor.ts";

/**
 * The cluster secret of the test clusters: every call the supervisor makes to them (raft-call,
 * the dashboard's poller) must present it, as under `up`.
 */
export const TEST_CLUSTER_SECRET = "raft-supervisor-test-secret-0123456789";

/** Three raft-node children on free ports, node 1 bootstrapping, as pipeline_specs.ts has them. */
export function raftNodeSpecs(dataDir: string): ChildSpecInput[] {
  const ports = freePorts(9);
  const at = (i: number, k: number) => ports[i * 3 + k]!;
  return [0, 1, 2].map((i) => ({
    name: `raft-${i + 1}`,
    command: selfCommand("raft-node"),
    env: {
      LOG_LEVEL: "warn",
      RAFT_NODE_ID: `raft-${i + 1}`,
      PORT_GRPC: String(at(i, 0)),
      PORT_HTTP: String(at(i, 1)),
      RAFT_BIND_ADDR: `127.0.0.1:${at(i, 2)}`,
      RAFT_ADVERTISE_ADDR: `127.0.0.1:${at(i, 2)}`,
      RAFT_DATA_DIR: join(dataDir, `raft-${i + 1}`),
      RAFT_BOOTSTRAP: i === 0 ? "true" : "false",
      RAFT_JOIN_ADDR: i === 0 ? "" : `127.0.0.1:${at(0, 0)}`,
      KAFKA_BROKERS: "127.0.0.1:9",
      CLUSTER_SECRET: TEST_CLUSTER_SECRET,
    },
    ports: { grpc: at(i, 0), http: at(i, 1), raft: at(i, 2) },
    readiness: { kind: "http" as const, port: at(i, 1), path: "/readyz" },
    shutdownGraceMs: 3000,
    backoff: { initialMs: 100 },
  }));
}

/** A started supervisor over three raft nodes, once each is ready and one leads. */
export async function startRaftSupervisor(
  dataDir: string,
  write: (text: string) => void = () => {},
): Promise<Supervisor> {
  const output = new LogMultiplexer({ pretty: false, write });
  const supervisor = new Supervisor({
    specs: raftNodeSpecs(dataDir),
    output,
    probeIntervalMs: 200,
  });
  supervisor.start();
  try {
    await waitFor("three ready raft nodes", () => supervisor.isReady(), { timeoutMs: 60_000 });
    await waitFor("every node follows one leader", async () => {
      const statuses = await raftStatuses(raftNodesOf(supervisor));
      const leader = leaderOf(statuses);
      return leader &&
        statuses.every((s) => "status" in s && s.status.leaderId === leader.status.nodeId);
    }, { timeoutMs: 30_000 });
  } catch (error) {
    await supervisor.shutdown("test setup failed");
    throw error;
  }
  return supervisor;
}

/**
 * The exits no test asked for: a crash (SIGABRT, SIGSEGV, a non-zero code) of a raft node
 * that was neither killed, nor stopped, nor made to exit by exit-on-leader (code 3).
 */
export function unexpectedExits(supervisor: Supervisor): string[] {
  const killed = new Set(
    supervisor.events.list().filter((e) => e.kind === "killed").map((e) => e.fields?.pid),
  );
  return supervisor.events.list()
    .filter((e) =>
      e.kind === "exited" && e.fields?.abnormal === true && e.fields.code !== 3 &&
      !killed.has(e.fields.pid)
    )
    .map((e) => e.message);
}
