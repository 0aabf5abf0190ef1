/**
 * Dynamic broker configs (AlterConfigs / IncrementalAlterConfigs / DescribeConfigs on a BROKER
 * resource, as Kafka's DynamicBrokerConfig serves them), through kafkajs's admin client over TCP
 * and raw IncrementalAlterConfigs requests (kafkajs has no API for it).
 */
import assert from "node:assert/strict";
import { ConfigResourceTypes, Kafka, logLevel } from "kafkajs";
import { tempDir } from "@trading/testing";
import { RawKafkaClient } from "@trading/testing/raw-kafka-client";
import { withBroker } from "@trading/testing/with-broker";
import { type BrokerOptions, startBroker } from "./broker.ts";
import { ErrorCode } from "./protocol/error_codes.ts";
import * as M from "./protocol/messages.ts";

type Admin = ReturnType<Kafka["admin"]>;

async function withAdmin<T>(address: string, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Kafka({
    clientId: "dynamic-config-test",
    brokers: [address],
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
  }).admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

function alterBroker(admin: Admin, name: string, entries: Record<string, string>) {
  return admin.alterConfigs({
    validateOnly: false,
    resources: [{
      type: ConfigResourceTypes.BROKER,
      name,
      configEntries: Object.entries(entries).map(([n, value]) => ({ name: n, value })),
    }],
  });
}

async function describe(admin: Admin, type: ConfigResourceTypes, name: string) {
  const described = await admin.describeConfigs({
    resources: [{ type, name }],
    includeSynonyms: true,
  });
  return new Map(described.resources[0]!.configEntries.map((e) => [e.configName, e]));
}

/**
 * AlterConfigs on BROKER resource `name` with a raw request: kafkajs refuses the cluster
 * default's empty name client-side, and sends a broker id only to that broker.
 */
async function rawAlterBroker(address: string, name: string, entries: Record<string, string>) {
  const client = await RawKafkaClient.connect(address);
  try {
    const response = await client.request(M.alterConfigs, 1, {
      resources: [{
        resourceType: 4,
        resourceName: name,
        configs: Object.entries(entries).map(([n, value]) => ({ name: n, value })),
      }],
      validateOnly: false,
    });
    return response.responses[0]!;
  } finally {
    client.close();
  }
}

/** The names DescribeConfigs reports for BROKER resource `name`, with a raw request. */
async function rawDescribeBroker(address: string, name: string): Promise<string[]> {
  const client = await RawKafkaClient.connect(address);
  try {
    const response = await client.request(M.describeConfigs, 4, {
      resources: [{ resourceType: 4, resourceName: name, configurationKeys: null }],
      includeSynonyms: false,
      includeDocumentation: false,
    });
    assert.equal(response.results[0]!.errorCode, ErrorCode.NONE);
    return response.results[0]!.configs.map((c) => c.name).sort();
  } finally {
    client.close();
  }
}

/** The error type kafkajs rejects an AlterConfigs with. */
async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as Error & { type?: string }).type ?? "?";
  }
  throw new Error("Expected the alterConfigs to be refused");
}

Deno.test("kafkajs alterConfigs on a BROKER resource stores a dynamic config that describeConfigs reports and a restart keeps", async () => {
  await using dir = await tempDir("broker-test-");
  const options: BrokerOptions = { dataDir: dir.path, port: 0, nodeId: 3 };
  let broker = await startBroker(options);
  try {
    await withAdmin(broker.address, async (admin) => {
      // librdkafka's 0081_admin sets exactly this on the broker it talks to.
      await alterBroker(admin, "3", { "sasl.kerberos.min.time.before.relogin": "58000" });
      const configs = await describe(admin, ConfigResourceTypes.BROKER, "3");
      const relogin = configs.get("sasl.kerberos.min.time.before.relogin")!;
      assert.equal(relogin.configValue, "58000");
      assert.equal(relogin.readOnly, false);
      assert.equal(relogin.configSource, 2, "DYNAMIC_BROKER_CONFIG");
      assert.equal(configs.get("broker.id")!.configValue, "3");
      assert.equal(configs.get("broker.id")!.readOnly, true);
      // The cluster default level holds only what is set there: nothing yet.
      assert.deepEqual(await rawDescribeBroker(broker.address, ""), []);
    });
    await broker.close();
    broker = await startBroker(options);
    await withAdmin(broker.address, async (admin) => {
      const relogin = (await describe(admin, ConfigResourceTypes.BROKER, "3"))
        .get("sasl.kerberos.min.time.before.relogin")!;
      assert.equal(relogin.configValue, "58000");
      // AlterConfigs replaces the level's whole set: an empty set removes the value.
      await alterBroker(admin, "3", {});
      const reset = (await describe(admin, ConfigResourceTypes.BROKER, "3"))
        .get("sasl.kerberos.min.time.before.relogin")!;
      assert.equal(reset.configValue, "60000");
      assert.equal(reset.configSource, 5, "DEFAULT_CONFIG");
    });
  } finally {
    await broker.close();
  }
});

Deno.test("kafkajs alterConfigs on a BROKER resource refuses what Kafka refuses", async () => {
  await withBroker({ nodeId: 2 }, async (broker) => {
    await withAdmin(broker.address, async (admin) => {
      let refused = await refusal(alterBroker(admin, "2", { "broker.id": "5" }));
      assert.equal(refused, "INVALID_REQUEST");
      const readOnly = await rawAlterBroker(broker.address, "2", { "broker.id": "5" });
      assert.match(
        readOnly.errorMessage!,
        /Cannot update these configs dynamically: Set\(broker\.id\)/,
      );
      const perBrokerAtDefault = await rawAlterBroker(broker.address, "", {
        "sasl.kerberos.min.time.before.relogin": "58000",
      });
      assert.equal(perBrokerAtDefault.errorCode, ErrorCode.INVALID_REQUEST);
      assert.match(perBrokerAtDefault.errorMessage!, /broker id must be specified/);
      const otherBroker = await rawAlterBroker(broker.address, "7", { "log.retention.ms": "1" });
      assert.equal(otherBroker.errorCode, ErrorCode.INVALID_REQUEST, "another broker's id");
      refused = await refusal(alterBroker(admin, "2", { "log.retention.ms": "soon" }));
      assert.equal(refused, "INVALID_REQUEST");
      const notLong = await rawAlterBroker(broker.address, "2", { "log.retention.ms": "soon" });
      assert.match(notLong.errorMessage!, /Not a number of type LONG/);
      refused = await refusal(alterBroker(admin, "2", { "no.such.config": "1" }));
      assert.equal(refused, "INVALID_CONFIG");
      const configs = await describe(admin, ConfigResourceTypes.BROKER, "2");
      assert.equal(configs.get("log.retention.ms")!.configSource, 4, "still the static value");
    });
  });
});

Deno.test("dynamic log configs on the broker become every topic's defaults at once, a topic's override still wins", async () => {
  const options = {
    nodeId: 2,
    createTopics: [{ name: "plain", partitions: 1 }, { name: "pinned", partitions: 1 }],
  };
  await withBroker(options, async (broker) => {
    await withAdmin(broker.address, async (admin) => {
      await admin.alterConfigs({
        validateOnly: false,
        resources: [{
          type: ConfigResourceTypes.TOPIC,
          name: "pinned",
          configEntries: [{ name: "retention.ms", value: "120000" }],
        }],
      });
      const set = await rawAlterBroker(broker.address, "", {
        "log.retention.ms": "3600000",
        "message.max.bytes": "4000",
      });
      assert.equal(set.errorCode, ErrorCode.NONE);
      let retention = (await describe(admin, ConfigResourceTypes.TOPIC, "plain"))
        .get("retention.ms")!;
      assert.equal(retention.configValue, "3600000");
      assert.equal(retention.configSource, 3, "DYNAMIC_DEFAULT_BROKER_CONFIG");
      assert.equal(broker.topics.effectiveConfig("plain").retentionMs, 3_600_000);
      assert.equal(broker.topics.effectiveConfig("pinned").retentionMs, 120_000);
      assert.equal(broker.topics.effectiveConfig("plain").maxMessageBytes, 4000);

      // This broker's own value wins over the cluster default.
      await alterBroker(admin, "2", { "log.retention.ms": "7200000" });
      retention = (await describe(admin, ConfigResourceTypes.TOPIC, "plain")).get("retention.ms")!;
      assert.equal(retention.configValue, "7200000");
      assert.equal(retention.configSource, 2, "DYNAMIC_BROKER_CONFIG");
      assert.deepEqual(
        retention.configSynonyms.map((s) => [s.configName, s.configValue, s.configSource]),
        [
          ["log.retention.ms", "7200000", 2],
          ["log.retention.ms", "3600000", 3],
          ["log.retention.ms", "604800000", 4],
          ["log.retention.ms", "604800000", 5],
        ],
      );
      assert.equal(broker.topics.effectiveConfig("plain").retentionMs, 7_200_000);
      assert.deepEqual(await rawDescribeBroker(broker.address, ""), [
        "log.retention.ms",
        "message.max.bytes",
      ]);
    });
    const producer = new Kafka({
      clientId: "dynamic-config-test",
      brokers: [broker.address],
      logLevel: logLevel.NOTHING,
      retry: { retries: 0 },
    }).producer();
    await producer.connect();
    try {
      await producer.send({ topic: "plain", messages: [{ value: "x".repeat(100) }] });
      await assert.rejects(
        producer.send({ topic: "plain", messages: [{ value: "x".repeat(5000) }] }),
        (error: Error & { type?: string }) => error.type === "MESSAGE_TOO_LARGE",
      );
    } finally {
      await producer.disconnect();
    }
  });
});

Deno.test("IncrementalAlterConfigs sets, appends to and deletes dynamic broker configs", async () => {
  await withBroker({ nodeId: 2 }, async (broker) => {
    const client = await RawKafkaClient.connect(broker.address);
    const alter = (configs: { name: string; configOperation: number; value: string | null }[]) =>
      client.request(M.incrementalAlterConfigs, 1, {
        resources: [{ resourceType: 4, resourceName: "2", configs }],
        validateOnly: false,
      });
    const value = async (name: string) => {
      const response = await client.request(M.describeConfigs, 4, {
        resources: [{ resourceType: 4, resourceName: "2", configurationKeys: [name] }],
        includeSynonyms: false,
        includeDocumentation: false,
      });
      return response.results[0]!.configs[0]!.value;
    };
    try {
      let answer = await alter([
        { name: "sasl.enabled.mechanisms", configOperation: 2, value: "PLAIN" },
        { name: "log.cleaner.threads", configOperation: 0, value: "2" },
      ]);
      assert.equal(answer.responses[0]!.errorCode, ErrorCode.NONE);
      assert.equal(await value("sasl.enabled.mechanisms"), "GSSAPI,PLAIN");
      assert.equal(await value("log.cleaner.threads"), "2");
      answer = await alter([{ name: "log.cleaner.threads", configOperation: 1, value: null }]);
      assert.equal(answer.responses[0]!.errorCode, ErrorCode.NONE);
      assert.equal(await value("log.cleaner.threads"), "1");
      assert.equal(await value("sasl.enabled.mechanisms"), "GSSAPI,PLAIN", "the other is kept");
      answer = await alter([{ name: "num.partitions", configOperation: 0, value: "9" }]);
      assert.equal(answer.responses[0]!.errorCode, ErrorCode.INVALID_REQUEST);
      answer = await alter([{ name: "log.cleaner.threads", configOperation: 2, value: "3" }]);
      assert.equal(answer.responses[0]!.errorCode, ErrorCode.INVALID_CONFIG, "append on an int");
    } finally {
      client.close();
    }
  });
});
