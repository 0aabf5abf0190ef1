import assert from "node:assert/strict";
import { TOPIC_PARTITIONS, TOPICS } from "@trading/shared/kafka";

// compose.yaml cannot run here (no Docker engine); these checks keep it in step with the code.
const compose = await Deno.readTextFile(new URL("../compose.yaml", import.meta.url));

Deno.test("compose.yaml's one-shot creates exactly the pipeline's topics with their partition counts", () => {
  const loop = /for t in ([^;]+); do\s+rpk topic create "\$\$t" --partitions (\d+) --replicas 1/
    .exec(
      compose,
    );
  assert.ok(loop, "the topics service loops over the topics with rpk topic create");
  assert.deepEqual(loop[1]!.trim().split(/\s+/).sort(), Object.values(TOPICS).sort());
  for (const topic of Object.values(TOPICS)) {
    assert.equal(TOPIC_PARTITIONS[topic], Number(loop[2]), `${topic} partitions`);
  }
});

Deno.test("compose.yaml lets dev:up (up --wait) succeed past the one-shot and publishes on loopback only", () => {
  // docker/compose#10596: --wait fails on an exited one-shot unless a service awaits it.
  assert.match(compose, /\n {6}topics:\n {8}condition: service_completed_successfully\n/);
  const published = [...compose.matchAll(/^ {6}- (\S+:\d+:\d+)$/gm)].map((m) => m[1]!);
  assert.ok(published.length >= 5, `published ports found: ${published.join(", ")}`);
  for (const port of published) assert.match(port, /^127\.0\.0\.1:/, port);
});
