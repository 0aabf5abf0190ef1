/**
 * Connection limits over real TCP (issue 13): an idle connection is closed after
 * `connectionsMaxIdleMs` while a busy one is not; beyond `maxConnections` a new connection
 * is closed at once and counted, and one is accepted again once another closes; the two
 * variables are validated by name.
 */
import assert from "node:assert/strict";
import { settlesWithin, waitFor } from "@trading/testing";
import { withBroker } from "@trading/testing/with-broker";
import { loadBrokerConfig } from "./config.ts";
import { ApiKey } from "./protocol/messages.ts";
import type { MetadataResponse } from "./protocol/types.ts";
import { RawKafkaClient } from "./raw_client.ts";

async function metadataWorks(client: RawKafkaClient): Promise<boolean> {
  const metadata = await client.request<MetadataResponse>(ApiKey.Metadata, 1, { topics: null });
  return metadata.brokers.length === 1;
}

Deno.test("an idle connection is closed after connectionsMaxIdleMs; one that keeps sending stays open", async () => {
  await withBroker({ connectionsMaxIdleMs: 300 }, async (broker) => {
    const idle = await RawKafkaClient.connect(broker.address, "idle");
    const busy = await RawKafkaClient.connect(broker.address, "busy");
    try {
      assert.ok(await metadataWorks(idle));
      const closed = idle.readFrame(); // Resolves null when the broker closes the socket.
      let idleClosed = false;
      closed.then(() => (idleClosed = true));
      // The busy client sends a request every 50 ms until the idle one is closed.
      await waitFor("the idle connection to be closed", async () => {
        assert.ok(await metadataWorks(busy));
        return idleClosed;
      }, { timeoutMs: 20_000 });
      assert.equal(await closed, null);
      assert.ok(await metadataWorks(busy), "the busy connection is still served");
      assert.equal(
        (await broker.metrics.refusedConnections.get()).values.find((v) =>
          v.labels.reason === "idle"
        )?.value,
        1,
      );
    } finally {
      idle.close();
      busy.close();
    }
  });
});

Deno.test("beyond maxConnections a new connection is closed at once; a slot is reused after a close", async () => {
  await withBroker({ maxConnections: 2 }, async (broker) => {
    const a = await RawKafkaClient.connect(broker.address, "a");
    const b = await RawKafkaClient.connect(broker.address, "b");
    const extra = await RawKafkaClient.connect(broker.address, "extra");
    let again: RawKafkaClient | undefined;
    try {
      assert.ok(await metadataWorks(a));
      assert.ok(await metadataWorks(b));
      assert.equal(
        await settlesWithin("the broker to close the third connection", extra.readFrame(), 10_000),
        null,
      );
      const refused = (await broker.metrics.refusedConnections.get()).values.find((v) =>
        v.labels.reason === "too_many"
      );
      assert.equal(refused?.value, 1);
      a.close();
      again = await waitFor("a connection to be accepted after one closed", async () => {
        const client = await RawKafkaClient.connect(broker.address, "again");
        try {
          if (await metadataWorks(client)) return client;
        } catch {
          // Closed: the broker has not seen the close of `a` yet.
        }
        client.close();
        return undefined;
      });
      assert.ok(await metadataWorks(b));
    } finally {
      a.close();
      b.close();
      extra.close();
      again?.close();
    }
  });
});

Deno.test("BROKER_CONNECTIONS_MAX_IDLE_MS and BROKER_MAX_CONNECTIONS have Kafka-like defaults and are validated by name", () => {
  const config = loadBrokerConfig({});
  assert.equal(config.broker.connectionsMaxIdleMs, 600_000);
  assert.equal(config.broker.maxConnections, 1000);
  assert.equal(
    loadBrokerConfig({ BROKER_CONNECTIONS_MAX_IDLE_MS: "5000", BROKER_MAX_CONNECTIONS: "7" })
      .broker.maxConnections,
    7,
  );
  assert.throws(() => loadBrokerConfig({ BROKER_MAX_CONNECTIONS: "0" }), /BROKER_MAX_CONNECTIONS/);
  assert.throws(
    () => loadBrokerConfig({ BROKER_CONNECTIONS_MAX_IDLE_MS: "soon" }),
    /BROKER_CONNECTIONS_MAX_IDLE_MS/,
  );
});
