/**
 * Static group membership (KIP-345) with librdkafka (confluent-kafka-python): a member with a
 * `group.instance.id` that crashes and restarts gets its partitions back without waiting for
 * its 45 s session timeout, and the other member sees no rebalance at all.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { DEBIAN_PYTHON, requireTestTool, waitFor } from "@trading/testing";
import { withBroker } from "@trading/testing/with-broker";

const SCRIPT = fileURLToPath(new URL("./testdata/confluent_static_member.py", import.meta.url));

interface RebalanceEvent {
  event: "assign" | "revoke";
  partitions: number[];
}

/** One static member process and the rebalance callbacks it printed so far. */
class StaticMember {
  readonly events: RebalanceEvent[] = [];
  private readonly child: Deno.ChildProcess;
  private readonly reading: Promise<void>;

  constructor(address: string, instanceId: string) {
    const child = new Deno.Command(DEBIAN_PYTHON, {
      args: [SCRIPT, address, "static", "static-group", instanceId],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.child = child;
    this.reading = (async () => {
      let buffered = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        buffered += chunk;
        const lines = buffered.split("\n");
        buffered = lines.pop()!;
        for (const line of lines) if (line.trim() !== "") this.events.push(JSON.parse(line));
      }
    })();
  }

  /** The partitions of the last assign callback, or undefined before the first. */
  get assigned(): number[] | undefined {
    return this.events.findLast((e) => e.event === "assign")?.partitions;
  }

  /** SIGKILL: no LeaveGroup, as in a crash. */
  async kill(): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await this.child.status;
    await this.reading.catch(() => {});
  }
}

Deno.test("a restarted static member gets its partitions back at once and the other member does not rebalance", async () => {
  await requireTestTool("confluent-kafka-python");
  await withBroker({ createTopics: [{ name: "static", partitions: 4 }] }, async (broker) => {
    const b = new StaticMember(broker.address, "instance-b");
    let a = new StaticMember(broker.address, "instance-a");
    try {
      const split = await waitFor("both members own two partitions each", () => {
        const pa = a.assigned ?? [];
        const pb = b.assigned ?? [];
        return pa.length === 2 && pb.length === 2 && new Set([...pa, ...pb]).size === 4 &&
          { pa, pb };
      }, { timeoutMs: 30_000 });
      const bEventsBefore = b.events.length;
      await a.kill();
      a = new StaticMember(broker.address, "instance-a");
      // The deadline is below the 45 s session timeout: a broker that waited for it fails here.
      const back = await waitFor("the restarted member is assigned", () => a.assigned, {
        timeoutMs: 30_000,
      });
      assert.deepEqual(back, split.pa, "the same partitions as before the crash");
      assert.deepEqual(b.events.slice(bEventsBefore), [], "the other member saw no rebalance");
      assert.deepEqual(b.assigned, split.pb);
    } finally {
      await a.kill();
      await b.kill();
    }
  });
});
