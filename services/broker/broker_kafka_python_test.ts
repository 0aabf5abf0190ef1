/**
 * kafka-python (Debian's python3-kafka) against the broker: a consumer group commits,
 * the consumer and the broker restart, and the group resumes from the committed offset.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { DEBIAN_PYTHON, requireTestTool, tempDir } from "@trading/testing";
import { startBroker } from "./broker.ts";

const SCRIPT = fileURLToPath(new URL("./testdata/kafka_python_group.py", import.meta.url));

async function phase(
  address: string,
  name: string,
): Promise<{ offsets: number[]; committed: number }> {
  const out = await new Deno.Command(DEBIAN_PYTHON, {
    args: [SCRIPT, address, name],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    throw new Error(`kafka-python ${name} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(text.split("\n").pop()!);
}

Deno.test({
  name: "kafka-python consumer group commits, restarts and resumes from the committed offset",
  fn: async () => {
    await requireTestTool("kafka-python");
    await using dir = await tempDir("broker-test-");
    const options = { dataDir: dir.path, port: 0, createTopics: [{ name: "py", partitions: 1 }] };
    let broker = await startBroker(options);
    try {
      await phase(broker.address, "produce");
      const first = await phase(broker.address, "first");
      assert.deepEqual(first.offsets, Array.from({ length: 40 }, (_, i) => i));
      assert.equal(first.committed, 40);
      await broker.close();
      broker = await startBroker(options); // Committed offsets must survive the restart.
      const resumed = await phase(broker.address, "resume");
      assert.deepEqual(resumed.offsets, Array.from({ length: 60 }, (_, i) => 40 + i));
      assert.equal(resumed.committed, 100);
    } finally {
      await broker.close();
    }
  },
});
