/**
 * CPU cost of the pure core per entry, without disk or network: `deno bench -A
 * services/raft-node/core/raft_bench.ts`. A three-node cluster in one process, persisting
 * instantly, delivering messages by hand.
 */
import { TestCluster } from "./test_cluster.ts";
import { encodeCommand, hashPayload, OrderStateMachine } from "../state_machine.ts";

const payload = encodeCommand({
  orderId: "AAPL-000000123-momentum",
  payloadHash: hashPayload(new Uint8Array(100)),
  outcome: { status: 1, reason: "" },
  symbol: "AAPL",
  positionDelta: 10,
  maxPosition: 0,
});

function cluster(): TestCluster {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.tickAll(1);
  return c;
}

/** Drops what the cluster accumulated, so that memory stays flat over millions of entries. */
function trim(c: TestCluster): void {
  for (const id of ["a", "b", "c"]) {
    c.applied.set(id, []);
    const node = c.node(id);
    const storage = c.storage.get(id)!;
    if (node.appliedIndex - node.snapshotIndex > 10_000) {
      storage.compacted(node.compact(node.appliedIndex, new Uint8Array()));
    }
  }
}

const seq = cluster();
let seqCount = 0;
Deno.bench("raft core: one proposal committed and applied on 3 nodes (sequential)", () => {
  seq.node("a").propose(payload);
  seq.process("a");
  seq.deliverAll();
  if (++seqCount % 5000 === 0) trim(seq);
});

const batched = cluster();
let batchCount = 0;
Deno.bench("raft core: 64 proposals committed and applied on 3 nodes (one batch)", () => {
  const a = batched.node("a");
  for (let i = 0; i < 64; i++) a.propose(payload);
  batched.process("a");
  batched.deliverAll();
  if (++batchCount % 100 === 0) trim(batched);
});

const sm = new OrderStateMachine();
let index = 0;
Deno.bench("state machine: decode and apply one command", () => {
  index++;
  sm.applyEntry(
    index,
    encodeCommand({
      orderId: `o-${index}`,
      payloadHash: hashPayload(new Uint8Array(8)),
      outcome: { status: 1, reason: "" },
      symbol: "AAPL",
      positionDelta: 1,
      maxPosition: 0,
    }),
  );
});
