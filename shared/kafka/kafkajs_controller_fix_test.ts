import assert from "node:assert/strict";
import { KafkaMockCluster } from "@trading/testing";
import { controllerTarget } from "./kafkajs_controller_fix.ts";
import { createIdempotentProducer, createKafka } from "./kafka.ts";
import { PartitionReader } from "./partition_reader.ts";

Deno.test("controllerTarget keeps a listed controller and otherwise picks the lowest listed id", () => {
  const brokers = [{ nodeId: 3 }, { nodeId: 1 }, { nodeId: 2 }];
  assert.equal(controllerTarget(2, brokers), 2);
  assert.equal(controllerTarget(0, brokers), 1);
  assert.equal(controllerTarget(-1, brokers), 1);
  assert.equal(controllerTarget(null, brokers), 1);
  assert.equal(controllerTarget(0, []), undefined);
});

Deno.test({
  name:
    "an idempotent producer starts and writes on librdkafka's 3-broker mock cluster, which names controller 0 and has brokers 1..3",
  sanitizeOps: false, // kafkajs keeps connection timers a moment after disconnect
  sanitizeResources: false,
  async fn() {
    await using cluster = await KafkaMockCluster.start({ topics: { "fix.topic": 3 } });
    const kafka = createKafka({
      clientId: "controller-fix-test",
      brokers: cluster.bootstrap.split(","),
    });
    const admin = kafka.admin();
    await admin.connect();
    const described = await admin.describeCluster();
    await admin.disconnect();
    assert.deepEqual(described.brokers.map((b) => b.nodeId).sort(), [1, 2, 3]);
    assert.equal(described.controller, 0, "the mock reports a controller it does not list");

    const producer = createIdempotentProducer(kafka);
    await producer.connect();
    try {
      for (let partition = 0; partition < 3; partition++) {
        await producer.send({
          topic: "fix.topic",
          acks: -1,
          messages: [{ partition, key: `k${partition}`, value: `v${partition}` }],
        });
      }
    } finally {
      await producer.disconnect();
    }
    const reader = await PartitionReader.connect(kafka);
    try {
      for (let partition = 0; partition < 3; partition++) {
        const { records } = await reader.fetch("fix.topic", partition, 0);
        assert.deepEqual(
          records.map((r) => new TextDecoder().decode(r.value!)),
          [`v${partition}`],
        );
      }
    } finally {
      await reader.close();
    }
  },
});
