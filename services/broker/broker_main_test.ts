/**
 * The `broker` role as a process: config from the environment, health and metrics over
 * HTTP, graceful shutdown on SIGTERM.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { freePorts, tempDir, waitFor } from "@trading/testing";
import { RoleProcess } from "@trading/testing";
import { loadBrokerConfig, parseTopicList } from "./config.ts";

Deno.test("loadBrokerConfig() applies defaults and parses BROKER_CREATE_TOPICS", () => {
  const config = loadBrokerConfig({ BROKER_CREATE_TOPICS: "market.ticks:3,orders.dlq:1" });
  assert.equal(config.broker.port, 9092);
  assert.equal(config.broker.host, "127.0.0.1");
  assert.equal(config.broker.dataDir, "./.data/broker");
  assert.equal(config.broker.flush, "sync");
  assert.equal(config.httpPort, 9644);
  assert.deepEqual(config.broker.createTopics, [{ name: "market.ticks", partitions: 3 }, {
    name: "orders.dlq",
    partitions: 1,
  }]);
  assert.deepEqual(parseTopicList(undefined), []);
});

Deno.test("loadBrokerConfig() names the bad variable and the expected form", () => {
  assert.throws(
    () => loadBrokerConfig({ BROKER_FLUSH: "sometimes" }),
    /Invalid BROKER_FLUSH "sometimes": expected one of sync\|interval/,
  );
  assert.throws(
    () => loadBrokerConfig({ BROKER_CREATE_TOPICS: "ticks" }),
    /Invalid BROKER_CREATE_TOPICS "ticks"/,
  );
});

Deno.test("the broker role exits 2 with one line on a bad variable", async () => {
  const out = await RoleProcess.run("broker", [], { BROKER_PORT: "abc" });
  assert.equal(out.code, 2);
  assert.match(out.stderr, /Invalid BROKER_PORT "abc": expected an integer port/);
});

Deno.test("the broker role serves health and metrics and shuts down cleanly on SIGTERM", async () => {
  await using dir = await tempDir("broker-role-");
  const [kafkaPort, httpPort] = freePorts(2) as [number, number];
  await using broker = RoleProcess.spawn("broker", {
    BROKER_PORT: String(kafkaPort),
    BROKER_DATA_DIR: dir.path,
    BROKER_CREATE_TOPICS: "m:2",
    PORT_HTTP: String(httpPort),
  });
  await broker.ready();
  try {
    const kafka = new Kafka({
      clientId: "metrics-test",
      brokers: [`127.0.0.1:${kafkaPort}`],
      logLevel: logLevel.NOTHING,
    });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: "m", messages: [{ value: "a" }, { value: "b" }, { value: "c" }] });
    await producer.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    await admin.setOffsets({
      groupId: "lagging",
      topic: "m",
      partitions: [{ partition: 0, offset: "0" }],
    });
    await admin.disconnect();
    const healthz = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
    assert.equal(healthz.status, 200);
    await healthz.body?.cancel();
    const metrics = await waitFor("metrics with traffic", async () => {
      const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      return text.includes("broker_messages_in_total") ? text : undefined;
    });
    assert.match(metrics, /broker_messages_in_total\{[^}]*topic="m"[^}]*\} 3/);
    assert.match(metrics, /broker_bytes_in_total\{[^}]*topic="m"/);
    assert.match(metrics, /broker_requests_total\{[^}]*api="Produce"[^}]*error_code="0"/);
    assert.match(metrics, /broker_partition_high_watermark\{[^}]*topic="m"/);
    assert.match(metrics, /broker_group_lag\{[^}]*group="lagging"[^}]*partition="0"/);
  } finally {
    broker.kill("SIGTERM");
  }
  assert.equal(await broker.exited(), 0);
  assert.match(broker.output.join("\n"), /Broker on port \d+ closed/);
});
