import assert from "node:assert/strict";
import { clientsOf } from "./broker.ts";

Deno.test("clientsOf() runs kafkajs by default, one client by name, both with `both`", () => {
  assert.deepEqual(clientsOf(undefined), ["kafkajs"]);
  assert.deepEqual(clientsOf("platformatic"), ["platformatic"]);
  assert.deepEqual(clientsOf("both"), ["kafkajs", "platformatic"]);
});

Deno.test("clientsOf() refuses an unknown client naming the choices", () => {
  assert.throws(() => clientsOf("rdkafka"), /Invalid --client "rdkafka": expected kafkajs/);
});
