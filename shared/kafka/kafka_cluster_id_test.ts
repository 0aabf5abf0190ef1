import assert from "node:assert/strict";
import { withBroker } from "@trading/testing/with-broker";
import { createKafka } from "./kafka.ts";
import { kafkaClusterId } from "./kafka_cluster_id.ts";

Deno.test("kafkaClusterId() is stable for one cluster and differs between clusters", async () => {
  const idOf = (address: string) =>
    kafkaClusterId(createKafka({ clientId: "cluster-id-test", brokers: [address] }));
  const [first, again, other] = await withBroker({}, async (a) => {
    const ids = [await idOf(a.address), await idOf(a.address)];
    return [...ids, await withBroker({}, (b) => idOf(b.address))];
  });
  assert.ok(first && first.length > 0);
  assert.equal(again, first);
  assert.notEqual(other, first);
});
