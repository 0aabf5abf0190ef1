/**
 * The probe of a chaos run, as its own process (started by raft_probe.ts): it watches the Raft
 * cluster (every node's Status every `pollMs`), drives an Apply load with a
 * {@linkcode RaftClient} per load client while recording every call for the linearizability
 * checker, issues linearizable reads straight to one node on request (a partitioned old
 * leader), and follows `orders.events` on Kafka. It reports on stdout, one JSON object per
 * line, and takes commands on stdin, one JSON object per line.
 *
 * A process of its own because of the GOAWAY workaround (shared/grpc/grpc.ts
 * `DENO_GOAWAY_WORKAROUND`: a process whose session receives a GOAWAY can crash): the probe's channels see raft nodes stopped
 * gracefully at the end of a run, and the probe exits without closing them (`Deno.exit`).
 *
 * Lines out: `hello` {timeOrigin}, `cluster` {t, leader, term, commit, roles}, `op` {t, op},
 * `event` {t, status, raftIndex, commandT}, `read-node` {served, notLeader, failed},
 * `feed` {addr, ok, paused | message},
 * `stopped` {acked, uncertain, lost, unread}, `error` {message}.
 * Lines in: `{"cmd":"read-node","addr":"...","durationMs":3000,"intervalMs":50}`,
 * `{"cmd":"feed","addr":"<market-ingestor gRPC>","action":"pause"|"resume"}`, `{"cmd":"stop"}`.
 *
 * @module
 */
import { z } from "zod";
import { ApplyRequest, RaftNodeClient, type StatusResponse } from "@trading/proto/raft";
import { OrderEvent, OrderStatus } from "@trading/proto/orders";
import { HistoryRecorder } from "@trading/testing/history-recorder";
import { MarketIngestorClient } from "@trading/proto/market";
import { GRPC_OPTIONS, insecure, unary } from "@trading/shared/grpc";
import { createKafka, TOPICS } from "@trading/shared/kafka";
import { RAFT_CHANNEL_OPTIONS, RaftClient } from "@trading/shared/raft-client";
import { errorMessage, sleep } from "@trading/shared/retry";
import { PartitionReader } from "@trading/shared/partition-reader";

/** The probe's configuration, its one argument as JSON. */
export const ProbeConfigSchema = z.object({
  nodes: z.array(z.object({ id: z.string(), addr: z.string() })).min(1),
  /** Status poll period, ms. */
  pollMs: z.number().int().min(10).max(10_000).default(50),
  /** The Apply load, or null for none. */
  load: z.object({
    clients: z.number().int().min(1).max(64),
    /** Order ids are `<prefix>-c<client>-<n>`: unique per run. */
    prefix: z.string().regex(/^[A-Za-z0-9_.-]{1,40}$/),
    /** Pause between two Applies of one client, ms. */
    pauseMs: z.number().int().min(0).max(10_000),
  }).nullable(),
  /** Kafka bootstrap servers to follow `orders.events` on, or null. */
  brokers: z.string().nullable(),
  /** Deadline of one gRPC call, ms. */
  deadlineMs: z.number().int().min(50).max(30_000).default(1000),
});

/** The probe's configuration. */
export type ProbeConfig = z.input<typeof ProbeConfigSchema>;

const CommandSchema = z.discriminatedUnion("cmd", [
  z.object({ cmd: z.literal("stop") }),
  z.object({ cmd: z.literal("feed"), addr: z.string(), action: z.enum(["pause", "resume"]) }),
  z.object({
    cmd: z.literal("read-node"),
    addr: z.string(),
    durationMs: z.number().int().min(1).max(600_000),
    intervalMs: z.number().int().min(1).max(10_000).default(50),
  }),
]);

function emit(line: Record<string, unknown>): void {
  console.log(JSON.stringify(line));
}

/** Epoch ms of a `performance.now()` reading. */
function epoch(perf: number): number {
  return Math.round(performance.timeOrigin + perf);
}

/** Follows every node's Status; emits a `cluster` line whenever leader, term or a role changes. */
async function watchCluster(
  config: z.output<typeof ProbeConfigSchema>,
  running: () => boolean,
): Promise<void> {
  const clients = config.nodes.map((n) => ({
    id: n.id,
    client: new RaftNodeClient(n.addr, insecure(), RAFT_CHANNEL_OPTIONS),
  }));
  let last = "";
  while (running()) {
    const statuses = await Promise.all(clients.map(async ({ id, client }) => {
      try {
        return { id, status: await unary(client, client.status, {}, { deadlineMs: 300 }) };
      } catch {
        return { id, status: undefined as StatusResponse | undefined };
      }
    }));
    let leader: StatusResponse | undefined;
    for (const { status } of statuses) {
      if (status?.role === "leader" && (!leader || status.term > leader.term)) leader = status;
    }
    const roles = Object.fromEntries(
      statuses.map(({ id, status }) => [id, status?.role ?? "down"]),
    );
    const key = JSON.stringify([leader?.nodeId ?? "", leader?.term ?? 0, roles]);
    if (key !== last) {
      last = key;
      emit({
        type: "cluster",
        t: Date.now(),
        leader: leader?.nodeId ?? "",
        term: leader?.term ?? 0,
        commit: leader?.commitIndex ?? 0,
        roles,
      });
    }
    await sleep(config.pollMs);
  }
}

/** Follows `orders.events` from its end; emits one `event` line per order event. */
async function followEvents(brokers: string, running: () => boolean): Promise<void> {
  const kafka = createKafka({ clientId: "chaos-probe", brokers: brokers.split(",") });
  let reader: PartitionReader | undefined;
  let positions: Map<number, number> | undefined;
  let lastError = "";
  while (running()) {
    try {
      reader ??= await PartitionReader.connect(kafka);
      positions ??= new Map(
        (await reader.offsets(TOPICS.events)).map((o) => [o.partition, o.high]),
      );
      const { records } = await reader.fetchMany(TOPICS.events, positions, { maxWaitMs: 100 });
      for (const record of records) {
        positions.set(record.partition, record.offset + 1);
        if (!record.value) continue;
        const event = OrderEvent.decode(record.value);
        emit({
          type: "event",
          t: Math.round(event.createdAtUs / 1000),
          status: event.status === OrderStatus.ORDER_STATUS_ACCEPTED ? "accepted" : "rejected",
          raftIndex: event.raftIndex,
          commandT: Math.round(event.commandCreatedAtUs / 1000),
        });
      }
      lastError = "";
    } catch (error) {
      // The broker may be down (scenario 6): keep asking, reconnect from scratch.
      const message = errorMessage(error);
      if (message !== lastError) emit({ type: "error", t: Date.now(), message });
      lastError = message;
      await reader?.close().catch(() => {});
      reader = undefined;
      await sleep(200);
    }
  }
}

/** The probe's main loop; ends the process. */
async function runProbe(config: z.output<typeof ProbeConfigSchema>): Promise<never> {
  emit({ type: "hello", timeOrigin: performance.timeOrigin });
  let running = true;
  let loading = config.load !== null;
  const recorder = new HistoryRecorder();
  const acked: string[] = [];
  let uncertain = 0;
  let flushed = 0;
  const flush = () => {
    const ops = recorder.operations;
    for (; flushed < ops.length; flushed++) {
      const op = ops[flushed]!;
      emit({ type: "op", t: epoch(op.return ?? op.call), op });
    }
  };
  const flusher = setInterval(flush, 100);
  const addresses = config.nodes.map((n) => n.addr);

  const watching = watchCluster(config, () => running);
  const following = config.brokers ? followEvents(config.brokers, () => running) : undefined;
  const loads = config.load === null ? [] : Array.from({ length: config.load.clients }, (_, c) => {
    const load = config.load!;
    let current: ApplyRequest | undefined;
    const client = new RaftClient({
      addresses,
      deadlineMs: config.deadlineMs,
      onCall: recorder.hook(c, () => current),
    });
    return (async () => {
      for (let n = 1; loading; n++) {
        const orderId = `${load.prefix}-c${c}-${n}`;
        current = ApplyRequest.fromPartial({
          orderId,
          payload: new TextEncoder().encode(`${orderId}:${n}`),
          outcome: { status: OrderStatus.ORDER_STATUS_ACCEPTED, reason: "" },
          symbol: "CHAOS",
          positionDelta: 1,
          maxPosition: 0,
        });
        try {
          await client.apply(current);
          acked.push(orderId);
        } catch {
          uncertain++;
        }
        current = undefined;
        if (load.pauseMs > 0) await sleep(load.pauseMs);
      }
    })();
  });

  const readNode = async (addr: string, durationMs: number, intervalMs: number) => {
    const client = new RaftNodeClient(addr, insecure(), RAFT_CHANNEL_OPTIONS);
    const hook = recorder.hook("read-node", () => undefined);
    let served = 0;
    let notLeader = 0;
    let failed = 0;
    const until = performance.now() + durationMs;
    while (performance.now() < until) {
      // The newest acknowledged order: the one a stale node is most likely not to know.
      const orderId = acked.at(-1);
      if (orderId !== undefined) {
        const start = performance.now();
        try {
          const response = await unary(client, client.read, { orderId, stale: false }, {
            deadlineMs: config.deadlineMs,
          });
          hook({ kind: "read", address: addr, orderId, start, end: performance.now(), response });
          if (response.notLeader) notLeader++;
          else served++;
        } catch {
          failed++;
        }
      }
      await sleep(intervalMs);
    }
    emit({ type: "read-node", t: Date.now(), addr, served, notLeader, failed });
  };

  const feeds = new Map<string, MarketIngestorClient>();
  const feed = async (addr: string, action: "pause" | "resume") => {
    let client = feeds.get(addr);
    if (!client) feeds.set(addr, client = new MarketIngestorClient(addr, insecure(), GRPC_OPTIONS));
    try {
      const status = await unary(client, action === "pause" ? client.pause : client.resume, {}, {
        deadlineMs: 5000,
      });
      emit({ type: "feed", t: Date.now(), addr, ok: true, paused: status.paused });
    } catch (error) {
      emit({ type: "feed", t: Date.now(), addr, ok: false, message: errorMessage(error) });
    }
  };

  const stop = async () => {
    loading = false;
    await Promise.race([Promise.all(loads), sleep(30_000)]);
    // Every acknowledged Apply must be there: read each back, linearizably, on the leader.
    const reader = new RaftClient({
      addresses,
      deadlineMs: config.deadlineMs,
      onCall: recorder.hook("final-read", () => undefined),
    });
    const lost: string[] = [];
    const unread: string[] = [];
    for (let i = 0; i < acked.length; i += 32) {
      await Promise.all(
        acked.slice(i, i + 32).map(async (orderId) => {
          try {
            if (!(await reader.read(orderId)).found) lost.push(orderId);
          } catch {
            unread.push(orderId);
          }
        }),
      );
    }
    running = false;
    await Promise.race([Promise.all([watching, following]), sleep(5000)]);
    clearInterval(flusher);
    flush();
    emit({
      type: "stopped",
      t: Date.now(),
      acked: acked.length,
      uncertain,
      lost,
      unread: unread.length,
    });
    // No close(): a graceful close sends GOAWAY (see the module comment).
    Deno.exit(0);
  };

  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of Deno.stdin.readable) {
    buffered += decoder.decode(chunk, { stream: true });
    const lines = buffered.split("\n");
    buffered = lines.pop()!;
    for (const line of lines) {
      if (line.trim() === "") continue;
      let command: z.output<typeof CommandSchema>;
      try {
        command = CommandSchema.parse(JSON.parse(line));
      } catch (error) {
        emit({
          type: "error",
          t: Date.now(),
          message: `Invalid probe command: ${errorMessage(error)}`,
        });
        continue;
      }
      if (command.cmd === "stop") await stop();
      else if (command.cmd === "feed") void feed(command.addr, command.action);
      else void readNode(command.addr, command.durationMs, command.intervalMs);
    }
  }
  // stdin closed: the parent is gone.
  return await stop();
}

if (import.meta.main) {
  const parsed = ProbeConfigSchema.safeParse(JSON.parse(Deno.args[0] ?? "null"));
  if (!parsed.success) {
    console.error(`Invalid probe configuration: ${parsed.error.issues[0]?.message}`);
    Deno.exit(2);
  }
  await runProbe(parsed.data);
}
