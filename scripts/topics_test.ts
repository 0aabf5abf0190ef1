import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startBroker } from "@trading/broker";
import { TOPIC_PARTITIONS, TOPICS } from "@trading/shared/kafka";
import { requireTestTool, tempDir } from "@trading/testing";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** Runs `deno task <task>` from the repository root, as a user would. */
async function task(task: string, env: Record<string, string>) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", task],
    cwd: ROOT,
    env,
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** `TOPIC  PARTITIONS` rows of `topics list` as a map. */
function parseList(stdout: string): Map<string, number> {
  const [header, ...rows] = stdout.trim().split("\n");
  assert.match(header ?? "", /^TOPIC +PARTITIONS$/);
  return new Map(rows.map((row) => {
    const [name, partitions] = row.trim().split(/\s+/);
    return [name!, Number(partitions)];
  }));
}

Deno.test("deno task topics creates the four topics on KAFKA_BROKERS once, and topics:list shows their partitions", async () => {
  await using dir = await tempDir();
  // The embedded broker with no topics: the task must create them through the Kafka API.
  const broker = await startBroker({ port: 0, dataDir: dir.path });
  try {
    const env = { KAFKA_BROKERS: `127.0.0.1:${broker.port}` };
    const created = await task("topics", env);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(
      created.stdout.trim(),
      "created market.ticks, orders.commands, orders.events, orders.dlq",
    );
    const again = await task("topics", env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim(), "all topics exist already");

    const listed = await task("topics:list", env);
    assert.equal(listed.code, 0, listed.stderr);
    console.log(listed.stdout.trimEnd());
    const topics = parseList(listed.stdout);
    for (const name of Object.values(TOPICS)) {
      assert.equal(topics.get(name), TOPIC_PARTITIONS[name], `${name} partitions`);
      assert.equal(TOPIC_PARTITIONS[name], 3);
    }

    // A client that is not kafkajs (librdkafka) sees the same.
    await requireTestTool("kcat");
    const kcat = await new Deno.Command("kcat", {
      args: ["-b", env.KAFKA_BROKERS, "-L", "-J"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(kcat.code, 0, new TextDecoder().decode(kcat.stderr));
    const metadata: { topics: { topic: string; partitions: unknown[] }[] } = JSON.parse(
      new TextDecoder().decode(kcat.stdout),
    );
    for (const name of Object.values(TOPICS)) {
      assert.equal(metadata.topics.find((t) => t.topic === name)?.partitions.length, 3, name);
    }
  } finally {
    await broker.close();
  }
});

Deno.test("topics exits 2 with its usage for an unknown action, and names a malformed KAFKA_BROKERS", async () => {
  const run = async (args: string[], env: Record<string, string>) => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--frozen", "main.ts", "topics", ...args],
      cwd: ROOT,
      env,
      stdin: "null",
    }).output();
    return { code: output.code, stderr: new TextDecoder().decode(output.stderr).trim() };
  };
  const unknown = await run(["drop"], {});
  assert.equal(unknown.code, 2);
  assert.equal(
    unknown.stderr,
    'Unknown argument "drop": expected create or list\n\nUsage: main.ts topics [create|list]',
  );
  // `deno task topics` is `main.ts topics create`: a word after it is refused, not ignored.
  const extra = await run(["create", "drop"], {});
  assert.equal(extra.code, 2);
  assert.match(extra.stderr, /^Unknown argument "drop"/);
  const malformed = await run(["list"], { KAFKA_BROKERS: "nohost" });
  assert.equal(malformed.code, 2);
  assert.match(malformed.stderr, /^Invalid KAFKA_BROKERS "nohost": expected/);
});
