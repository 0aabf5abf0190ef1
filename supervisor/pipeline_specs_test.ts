import assert from "node:assert/strict";
import { parseChildSpecs } from "./supervision/child_spec.ts";
import { pipelineSpecs } from "./pipeline_specs.ts";

const ALL_ROLES = ["broker", "raft-node", "market-ingestor", "stream-processor", "order-executor"];
const fake = (role: string) => ({ executable: "/bin/echo", args: [role] });

Deno.test("pipelineSpecs() gives the docs/DESIGN.md ports and dependencies with the embedded broker", () => {
  const specs = parseChildSpecs(
    pipelineSpecs({ dataDir: "/data", roles: ALL_ROLES, command: fake }),
  );
  assert.deepEqual(specs.map((s) => s.name), [
    "broker",
    "raft-1",
    "raft-2",
    "raft-3",
    "market-ingestor",
    "stream-processor",
    "order-executor",
  ]);
  const byName = Object.fromEntries(specs.map((s) => [s.name, s]));
  assert.deepEqual(byName.broker!.env, {
    KAFKA_BROKERS: "127.0.0.1:9092",
    PORT_HTTP: "9644",
    BROKER_PORT: "9092",
    BROKER_DATA_DIR: "/data/broker",
    BROKER_CREATE_TOPICS: "market.ticks:3,orders.commands:3,orders.events:3,orders.dlq:3",
    BROKER_AUTO_CREATE_TOPICS: "false",
  });
  assert.deepEqual(byName["raft-1"]!.ports, { grpc: 50070, http: 8080, raft: 7000 });
  assert.equal(byName["raft-1"]!.env.RAFT_BOOTSTRAP, "true");
  assert.equal(byName["raft-3"]!.env.RAFT_BOOTSTRAP, "false");
  assert.equal(byName["raft-3"]!.env.RAFT_JOIN_ADDR, "127.0.0.1:50070");
  assert.equal(byName["raft-3"]!.env.RAFT_BIND_ADDR, "127.0.0.1:7002");
  assert.equal(byName["raft-3"]!.env.RAFT_DATA_DIR, "/data/raft/raft-3");
  // Every stateful child keeps its state under the supervisor's data dir, so that two
  // pipelines on one host never share state files.
  assert.equal(byName["stream-processor"]!.env.STREAM_PROCESSOR_DATA_DIR, "/data/stream-processor");
  assert.equal(byName["order-executor"]!.env.EXECUTOR_DATA_DIR, "/data/order-executor");
  assert.equal(byName["raft-2"]!.env.PORT_GRPC, "50071");
  assert.deepEqual(byName["market-ingestor"]!.ports, { grpc: 50051, http: 8083 });
  assert.deepEqual(byName["stream-processor"]!.dependsOn, ["broker"]);
  // Raft nodes never wait for each other: after a restart none is ready without a quorum.
  assert.ok(["raft-1", "raft-2", "raft-3"].every((n) => byName[n]!.dependsOn.length === 0));
  assert.deepEqual(byName["order-executor"]!.dependsOn, ["broker", "raft-1", "raft-2", "raft-3"]);
  assert.equal(
    byName["order-executor"]!.env.RAFT_NODE_GRPC_ADDR,
    "127.0.0.1:50070,127.0.0.1:50071,127.0.0.1:50072",
  );
  assert.deepEqual(byName["order-executor"]!.readiness, {
    kind: "http",
    port: 8085,
    path: "/readyz",
  });
  assert.deepEqual(byName["raft-2"]!.command, { executable: "/bin/echo", args: ["raft-node"] });
});

Deno.test("pipelineSpecs() shifts every port by the offset", () => {
  const specs = parseChildSpecs(
    pipelineSpecs({ dataDir: "/d", roles: ALL_ROLES, command: fake, portOffset: 1000 }),
  );
  const ports = specs.flatMap((s) => Object.values(s.ports)).sort((a, b) => a - b);
  assert.deepEqual(ports, [
    8000,
    8001,
    8002,
    9080,
    9081,
    9082,
    9083,
    9084,
    9085,
    10092,
    10644,
    51051,
    51052,
    51053,
    51070,
    51071,
    51072,
  ]);
  assert.ok(specs.every((s) => s.env.KAFKA_BROKERS === "127.0.0.1:10092"));
});

Deno.test("pipelineSpecs() starts no broker when KAFKA_BROKERS names the user's Kafka", () => {
  const specs = parseChildSpecs(pipelineSpecs({
    dataDir: "/d",
    roles: ALL_ROLES,
    command: fake,
    kafkaBrokers: ["10.0.0.5:9092", "10.0.0.6:9092"],
  }));
  assert.ok(!specs.some((s) => s.name === "broker"));
  assert.ok(specs.every((s) => s.env.KAFKA_BROKERS === "10.0.0.5:9092,10.0.0.6:9092"));
  const executor = specs.find((s) => s.name === "order-executor")!;
  assert.deepEqual(executor.dependsOn, ["raft-1", "raft-2", "raft-3"]);
});

Deno.test("pipelineSpecs() leaves out roles that do not exist yet, and dependencies on them", () => {
  const specs = parseChildSpecs(
    pipelineSpecs({ dataDir: "/d", roles: ["raft-node", "order-executor"], command: fake }),
  );
  assert.deepEqual(specs.map((s) => s.name), ["raft-1", "raft-2", "raft-3", "order-executor"]);
  assert.deepEqual(specs.at(-1)!.dependsOn, ["raft-1", "raft-2", "raft-3"]);
  assert.deepEqual(pipelineSpecs({ dataDir: "/d", roles: [], command: fake }), []);
});

Deno.test("pipelineSpecs() resolves a relative data dir against the current directory", () => {
  const [broker] = pipelineSpecs({ dataDir: ".data", roles: ["broker"], command: fake });
  assert.equal(broker!.env!.BROKER_DATA_DIR, `${Deno.cwd()}/.data/broker`);
});
