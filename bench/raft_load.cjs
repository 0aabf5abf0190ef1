// The Node.js load client of `deno task bench raft` (bench/raft.ts), built like the etcd
// anchor's etcd-load.js (/work/shared/anchors/etcd) so that both systems are measured by the
// same kind of client: @grpc/grpc-js on Node.js, one channel to the leader, unique keys,
// 100-byte values, `concurrency` calls in flight, bounded by `count` and `seconds`.
// Messages are encoded by hand (a few protobuf fields) to need nothing but grpc-js, which
// the workspace's node_modules already holds.
//
// Usage: node bench/raft_load.cjs <address> <concurrency> <count> <seconds> <prefix> [warmup]
// Prints one JSON line: { ops, errors, elapsedMs, latenciesMs, cpuMs }.
"use strict";
const path = require("node:path");
const grpc = require(path.join(__dirname, "..", "node_modules", "@grpc", "grpc-js"));

const [address, concurrency, count, seconds, prefix, warmup] = [
  process.argv[2],
  Number(process.argv[3] ?? 1),
  Number(process.argv[4] ?? 100000),
  Number(process.argv[5] ?? 10),
  process.argv[6] ?? "order",
  Number(process.argv[7] ?? 200),
];

function varint(n, out) {
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
}

const payload = Buffer.alloc(100, 0x78);
// ApplyRequest: order_id = 1 (string), payload = 2 (bytes), outcome = 3 { status = 1 }.
function encodeApply(orderId) {
  const id = Buffer.from(orderId);
  const head = [0x0a];
  varint(id.length, head);
  const mid = [0x12];
  varint(payload.length, mid);
  return Buffer.concat([
    Buffer.from(head),
    id,
    Buffer.from(mid),
    payload,
    Buffer.from([0x1a, 0x02, 0x08, 0x01]),
  ]);
}

// ApplyResponse: result = 1 (varint); the rest is not needed here.
function decodeResult(buffer) {
  return buffer.length >= 2 && buffer[0] === 0x08 ? buffer[1] : 0;
}

const Client = grpc.makeGenericClientConstructor({
  Apply: {
    path: "/trading.v1.RaftNode/Apply",
    requestStream: false,
    responseStream: false,
    requestSerialize: (b) => b,
    requestDeserialize: (b) => b,
    responseSerialize: (b) => b,
    responseDeserialize: (b) => b,
  },
}, "RaftNode");
const client = new Client(address, grpc.credentials.createInsecure());

let next = 0;
function apply() {
  const request = encodeApply(`${prefix}-${next++}`);
  return new Promise((resolve, reject) => {
    client.Apply(request, { deadline: Date.now() + 10000 }, (error, response) => {
      if (error) return reject(error);
      const result = decodeResult(response);
      // APPLY_RESULT_APPLIED = 1
      result === 1 ? resolve() : reject(new Error(`Apply answered result ${result}`));
    });
  });
}

(async () => {
  for (let i = 0; i < warmup; i++) await apply();
  const latenciesMs = [];
  let issued = 0;
  let errors = 0;
  const cpu0 = process.cpuUsage();
  const started = process.hrtime.bigint();
  const end = started + BigInt(Math.round(seconds * 1e9));
  async function worker() {
    while (issued < count && process.hrtime.bigint() < end) {
      issued++;
      const t0 = process.hrtime.bigint();
      try {
        await apply();
        latenciesMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
      } catch (error) {
        if (++errors <= 3) console.error(`apply error: ${error.message}`);
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  const line = JSON.stringify({
    ops: latenciesMs.length,
    errors,
    elapsedMs,
    latenciesMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
  }) + "\n";
  // Exit without closing the channel: a graceful close (GOAWAY) after many calls can abort
  // the Deno server (denoland/deno#36788). The kernel closes the socket. Exit only once the
  // line is written: a pipe's stdout is asynchronous in Node.js.
  process.stdout.write(line, () => process.exit(0));
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
