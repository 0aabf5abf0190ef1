import assert from "node:assert/strict";
import { chaosEnv, commonEnv, ConfigError, kafkaEnv, loadConfig, raftEnv } from "./config.ts";

const raftShape = {
  ...commonEnv({ grpcPort: 50070, httpPort: 8080 }),
  ...kafkaEnv,
  ...raftEnv,
  ...chaosEnv,
};

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    return error;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("loadConfig() applies defaults and converts types", () => {
  const config = loadConfig(raftShape, { RAFT_NODE_ID: "raft-1" });
  assert.equal(config.PORT_GRPC, 50070);
  assert.equal(config.PORT_HTTP, 8080);
  assert.equal(config.LOG_LEVEL, "info");
  assert.deepEqual(config.KAFKA_BROKERS, ["127.0.0.1:9092"]);
  assert.equal(config.RAFT_BIND_ADDR, "127.0.0.1:7000");
  assert.equal(config.RAFT_BOOTSTRAP, false);
  assert.equal(config.CHAOS_ENABLED, false);
  assert.equal(config.RAFT_JOIN_ADDR, undefined);
});

Deno.test("loadConfig() parses lists, booleans and integers", () => {
  const config = loadConfig(raftShape, {
    RAFT_NODE_ID: "raft-2",
    KAFKA_BROKERS: "10.0.0.1:9092, kafka-2:9093",
    RAFT_BOOTSTRAP: "TRUE",
    RAFT_JOIN_ADDR: "127.0.0.1:50070",
    CHAOS_DROP_PCT: "30",
    PORT_HTTP: "0",
  });
  assert.deepEqual(config.KAFKA_BROKERS, ["10.0.0.1:9092", "kafka-2:9093"]);
  assert.equal(config.RAFT_BOOTSTRAP, true);
  assert.deepEqual(config.RAFT_JOIN_ADDR, ["127.0.0.1:50070"]);
  assert.equal(config.CHAOS_DROP_PCT, 30);
  assert.equal(config.PORT_HTTP, 0);
});

Deno.test("loadConfig() names the variable, the value and the expected form", () => {
  const error = configError(() =>
    loadConfig(raftShape, { RAFT_NODE_ID: "raft-1", RAFT_BIND_ADDR: "abc" })
  );
  assert.equal(error.variable, "RAFT_BIND_ADDR");
  assert.equal(error.message, 'Invalid RAFT_BIND_ADDR "abc": expected host:port');
});

Deno.test("loadConfig() reports a missing required variable", () => {
  const error = configError(() => loadConfig(raftShape, {}));
  assert.equal(
    error.message,
    "Missing RAFT_NODE_ID: expected a node id of letters, digits, - or _",
  );
});

Deno.test("loadConfig() rejects out-of-range and malformed values", () => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ PORT_HTTP: "99999" }, 'Invalid PORT_HTTP "99999": expected an integer port 0-65535'],
    [{ LOG_LEVEL: "loud" }, 'Invalid LOG_LEVEL "loud": expected one of debug|info|warn|error'],
    [{ RAFT_BOOTSTRAP: "maybe" }, 'Invalid RAFT_BOOTSTRAP "maybe": expected true or false'],
    [{ CHAOS_DROP_PCT: "101" }, 'Invalid CHAOS_DROP_PCT "101": expected an integer 0-100'],
    [
      { KAFKA_BROKERS: "a:1,b" },
      'Invalid KAFKA_BROKERS "a:1,b": expected a comma-separated list of host:port',
    ],
    [
      { CHAOS_PROFILE: "drop=3" },
      'Invalid CHAOS_PROFILE "drop=3": expected a profile like "drop-pct=30,delay=50-250"',
    ],
  ];
  for (const [env, message] of cases) {
    const error = configError(() => loadConfig(raftShape, { RAFT_NODE_ID: "n", ...env }));
    assert.equal(error.message, message);
  }
});

Deno.test("loadConfig() treats an empty variable as unset", () => {
  const config = loadConfig(raftShape, { RAFT_NODE_ID: "n", PORT_HTTP: "", CHAOS_SEED: "" });
  assert.equal(config.PORT_HTTP, 8080);
  assert.equal(config.CHAOS_SEED, undefined);
});

Deno.test("a service with a bad env value exits 2 with one line naming the variable", async () => {
  const main = new URL("../../main.ts", import.meta.url).pathname;
  const fixture = new URL("./testdata/config_role.ts", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", fixture, main],
    env: { RAFT_NODE_ID: "raft-1", RAFT_BIND_ADDR: "abc" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr).trim();
  assert.equal(output.code, 2);
  assert.equal(stderr, 'Invalid RAFT_BIND_ADDR "abc": expected host:port');
});
