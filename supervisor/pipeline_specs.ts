/**
 * The pipeline's child specs (docs/DESIGN.md, "Processes and default ports"): the embedded broker
 * (only when `KAFKA_BROKERS` is unset), three Raft nodes and the three services, as a
 * function of a port offset, a data directory and the roles that exist, so that tests can
 * run a whole pipeline on free ports side by side.
 *
 * @module
 */
import { join, resolve } from "node:path";
import type { ChildCommand, ChildSpecInput } from "./supervision/child_spec.ts";
import { BROKER_DEFAULTS } from "@trading/broker/defaults";
import { MARKET_INGESTOR_DEFAULTS } from "@trading/market-ingestor/defaults";
import { ORDER_EXECUTOR_DEFAULTS } from "@trading/order-executor/defaults";
import { RAFT_NODE_DEFAULTS } from "@trading/raft-node/defaults";
import { STREAM_PROCESSOR_DEFAULTS } from "@trading/stream-processor/defaults";
import { TOPIC_PARTITIONS } from "@trading/shared/topics";
import { selfCommand } from "./supervision/self_command.ts";

/** Raft node `n` (1-based) of the pipeline: a raft-node's default ports plus n - 1. */
function raftNodePorts(n: number): { grpc: number; http: number; raft: number } {
  const { grpc, http, raft } = RAFT_NODE_DEFAULTS.ports;
  return { grpc: grpc + n - 1, http: http + n - 1, raft: raft + n - 1 };
}

/**
 * The default ports of docs/DESIGN.md, before the offset: each service's own defaults (its
 * defaults.ts), the Raft nodes' moved by one per node.
 */
export const DEFAULT_PORTS = {
  broker: BROKER_DEFAULTS.ports,
  "raft-1": raftNodePorts(1),
  "raft-2": raftNodePorts(2),
  "raft-3": raftNodePorts(3),
  "market-ingestor": MARKET_INGESTOR_DEFAULTS.ports,
  "stream-processor": STREAM_PROCESSOR_DEFAULTS.ports,
  "order-executor": ORDER_EXECUTOR_DEFAULTS.ports,
} as const;

/** The topics the embedded broker creates, `name:partitions` (shared/kafka/topics.ts). */
export const PIPELINE_TOPICS = Object.entries(TOPIC_PARTITIONS)
  .map(([topic, partitions]) => `${topic}:${partitions}`)
  .join(",");

/** Options of {@linkcode pipelineSpecs}. */
export interface PipelineOptions {
  /** Added to every default port. Default 0. */
  portOffset?: number;
  /** Root of the children's data (resolved against the current directory). */
  dataDir: string;
  /** The user's Kafka; when undefined the embedded broker is started and used. */
  kafkaBrokers?: readonly string[] | undefined;
  /** Roles that exist (main.ts ROLES): specs of other roles are left out. */
  roles: readonly string[];
  /** Environment added to every child (for example `LOG_LEVEL`). */
  env?: Record<string, string>;
  /** How a role is started; default {@linkcode selfCommand}. */
  command?: (role: string) => ChildCommand;
  /** SIGTERM-to-SIGKILL grace per child, ms. Default 10000 (shared/runtime/shutdown.ts needs 8000). */
  shutdownGraceMs?: number;
}

/**
 * Returns the pipeline's child specs for the roles that exist, with dependencies on absent
 * children dropped.
 */
export function pipelineSpecs(options: PipelineOptions): ChildSpecInput[] {
  const offset = options.portOffset ?? 0;
  const dataDir = resolve(options.dataDir);
  const command = options.command ?? ((role: string) => selfCommand(role));
  const at = (port: number) => `127.0.0.1:${port + offset}`;
  const ports = <K extends keyof typeof DEFAULT_PORTS>(name: K) =>
    Object.fromEntries(
      Object.entries(DEFAULT_PORTS[name]).map(([key, port]) => [key, port + offset]),
    );
  const embedded = options.kafkaBrokers === undefined;
  const kafkaBrokers = embedded ? at(DEFAULT_PORTS.broker.kafka) : options.kafkaBrokers!.join(",");
  const raftNames = ["raft-1", "raft-2", "raft-3"] as const;
  const common = (name: keyof typeof DEFAULT_PORTS) => {
    const { grpc, http }: { grpc?: number; http: number } = DEFAULT_PORTS[name];
    return {
      ...options.env,
      KAFKA_BROKERS: kafkaBrokers,
      PORT_HTTP: String(http + offset),
      ...(grpc === undefined ? {} : { PORT_GRPC: String(grpc + offset) }),
    };
  };
  const httpProbe = (name: keyof typeof DEFAULT_PORTS) => ({
    kind: "http" as const,
    port: DEFAULT_PORTS[name].http + offset,
    path: "/readyz",
  });
  const grace = options.shutdownGraceMs ?? 10_000;

  const specs: Array<ChildSpecInput & { role: string }> = [];
  if (embedded) {
    specs.push({
      name: "broker",
      role: "broker",
      command: command("broker"),
      env: {
        ...common("broker"),
        BROKER_PORT: String(DEFAULT_PORTS.broker.kafka + offset),
        BROKER_DATA_DIR: join(dataDir, "broker"),
        BROKER_CREATE_TOPICS: PIPELINE_TOPICS,
        // Kafka's default (auto.create.topics.enable=true) is off under the supervisor: an
        // external Kafka may have it off too, so every pipeline run proves that the services
        // work from the topics created up front alone.
        BROKER_AUTO_CREATE_TOPICS: "false",
      },
      ports: ports("broker"),
      readiness: httpProbe("broker"),
    });
  }
  for (const [index, name] of raftNames.entries()) {
    specs.push({
      name,
      role: "raft-node",
      command: command("raft-node"),
      env: {
        ...common(name),
        RAFT_NODE_ID: name,
        RAFT_BIND_ADDR: at(DEFAULT_PORTS[name].raft),
        RAFT_ADVERTISE_ADDR: at(DEFAULT_PORTS[name].raft),
        RAFT_DATA_DIR: join(dataDir, "raft", name),
        // Set both ways: a child inherits the supervisor's environment, which must not
        // leak a RAFT_BOOTSTRAP or RAFT_JOIN_ADDR meant for something else.
        RAFT_BOOTSTRAP: index === 0 ? "true" : "false",
        RAFT_JOIN_ADDR: index === 0 ? "" : at(DEFAULT_PORTS["raft-1"].grpc),
      },
      ports: ports(name),
      // No dependency between the nodes, although a joiner needs raft-1's leader: a node's
      // readiness means "knows a leader", and after a restart from persisted state no node
      // has one until a quorum is up, so gating one node on another would deadlock. A
      // joiner retries its Join until it is accepted.
      readiness: httpProbe(name),
    });
  }
  specs.push({
    name: "market-ingestor",
    role: "market-ingestor",
    command: command("market-ingestor"),
    env: common("market-ingestor"),
    ports: ports("market-ingestor"),
    dependsOn: ["broker"],
    readiness: httpProbe("market-ingestor"),
  });
  specs.push({
    name: "stream-processor",
    role: "stream-processor",
    command: command("stream-processor"),
    env: {
      ...common("stream-processor"),
      STREAM_PROCESSOR_DATA_DIR: join(dataDir, "stream-processor"),
    },
    ports: ports("stream-processor"),
    dependsOn: ["broker"],
    readiness: httpProbe("stream-processor"),
  });
  specs.push({
    name: "order-executor",
    role: "order-executor",
    command: command("order-executor"),
    env: {
      ...common("order-executor"),
      EXECUTOR_DATA_DIR: join(dataDir, "order-executor"),
      RAFT_NODE_GRPC_ADDR: raftNames.map((n) => at(DEFAULT_PORTS[n].grpc)).join(","),
    },
    ports: ports("order-executor"),
    dependsOn: ["broker", ...raftNames],
    readiness: httpProbe("order-executor"),
  });

  const present = specs.filter((s) => options.roles.includes(s.role));
  const names = new Set(present.map((s) => s.name));
  return present.map(({ role: _role, ...spec }) => ({
    ...spec,
    shutdownGraceMs: grace,
    dependsOn: (spec.dependsOn ?? []).filter((d) => names.has(d)),
  }));
}
