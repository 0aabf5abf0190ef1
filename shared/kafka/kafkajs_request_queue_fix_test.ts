import assert from "node:assert/strict";
import RequestQueue from "kafkajs/src/network/requestQueue/index.js";
import { withBroker } from "@trading/testing/with-broker";
import { applyKafkaJsRequestQueueFix } from "./kafkajs_request_queue_fix.ts";
import { waitFor } from "@trading/testing";

/** kafkajs's internal RequestQueue, the parts these tests drive. */
interface Queue {
  throttleCheckTimeoutId: unknown;
  push(request: {
    entry: { correlationId: number; resolve(): void; reject(error: unknown): void };
    expectResponse: boolean;
    sendRequest(): void;
  }): void;
  fulfillRequest(response: { correlationId: number; payload: null; size: number }): void;
  maybeThrottle(ms: number): void;
  destroy(): void;
}

function queue(): { queue: Queue; sentAt: Map<number, number>; send(id: number): void } {
  applyKafkaJsRequestQueueFix();
  const Queue = RequestQueue as unknown as new (options: object) => Queue;
  const q = new Queue({
    maxInFlightRequests: 1,
    requestTimeout: 30_000,
    enforceRequestTimeout: false,
    clientId: "fix-test",
    broker: "127.0.0.1:1",
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  });
  const sentAt = new Map<number, number>();
  return {
    queue: q,
    sentAt,
    send: (id) =>
      q.push({
        entry: { correlationId: id, resolve() {}, reject() {} },
        expectResponse: true,
        sendRequest: () => sentAt.set(id, performance.now()),
      }),
  };
}

Deno.test("applyKafkaJsRequestQueueFix() leaves no timer on a queue with nothing pending", () => {
  const { queue: q, sentAt, send } = queue();
  try {
    send(1);
    q.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
    assert.ok(sentAt.has(1));
    // Unfixed, this is a timer with a negative delay that re-arms itself every millisecond.
    assert.equal(q.throttleCheckTimeoutId, null);
  } finally {
    q.destroy();
  }
});

Deno.test("applyKafkaJsRequestQueueFix() still sends requests queued behind the in-flight limit", async () => {
  const { queue: q, sentAt, send } = queue();
  try {
    send(1);
    send(2); // over maxInFlightRequests: queued
    assert.deepEqual([...sentAt.keys()], [1]);
    q.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
    assert.deepEqual([...sentAt.keys()], [1, 2]);
    q.fulfillRequest({ correlationId: 2, payload: null, size: 0 });
    // The check scheduled while 2 was queued runs once more, then nothing is scheduled.
    await waitFor("no check scheduled", () => q.throttleCheckTimeoutId === null);
  } finally {
    q.destroy();
  }
});

Deno.test("applyKafkaJsRequestQueueFix() still sends a request queued while throttled when the throttle ends", async () => {
  const { queue: q, sentAt, send } = queue();
  try {
    const start = performance.now();
    q.maybeThrottle(60);
    send(1);
    assert.equal(sentAt.size, 0);
    const sent = await waitFor("the throttled request sent", () => sentAt.get(1));
    assert.ok(sent - start >= 50, `sent after ${sent - start} ms`);
    q.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
    await waitFor("no check scheduled", () => q.throttleCheckTimeoutId === null);
  } finally {
    q.destroy();
  }
});

Deno.test("a kafkajs process made with createKafka prints no TimeoutNegativeWarning", async () => {
  await withBroker({ createTopics: [{ name: "t", partitions: 1 }] }, async (broker) => {
    const script = `
      import { createKafka } from ${JSON.stringify(new URL("./kafka.ts", import.meta.url).href)};
      const producer = createKafka({ clientId: "warn-test", brokers: ["${broker.address}"] })
        .producer();
      await producer.connect();
      await producer.send({ topic: "t", acks: -1, messages: [{ value: "x" }] });
      await new Promise((resolve) => setTimeout(resolve, 200));
      await producer.disconnect();
      console.log("sent");
    `;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--frozen", script],
      cwd: new URL(".", import.meta.url).pathname,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.equal(new TextDecoder().decode(out.stdout).trim(), "sent");
    assert.doesNotMatch(stderr, /TimeoutNegativeWarning/);
  });
});
