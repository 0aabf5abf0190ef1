import assert from "node:assert/strict";

// Runs in a child process: the patch is process-wide and cannot be undone. The child serves
// an Apply that answers at once, makes 10 rounds of 64 concurrent calls over one channel,
// and prints how many calls succeeded and how many socket writes the process made.
const CHILD = `
import net from "node:net";
const coalesce = Deno.args[0] === "coalesce";
if (coalesce) {
  const { coalesceHttp2Writes } = await import(${
  JSON.stringify(new URL("./coalesce_http2_writes.ts", import.meta.url).href)
});
  coalesceHttp2Writes();
}
let writes = 0;
const write = net.Socket.prototype.write;
net.Socket.prototype.write = function (...args) { writes++; return write.apply(this, args); };
const { ApplyResult, RaftNodeClient, RaftNodeService } = await import("@trading/proto/raft");
const { insecure, startGrpcServer, unary } = await import("@trading/shared/grpc");
const server = await startGrpcServer(0, (s) => s.addService(RaftNodeService, {
  apply: (call, callback) => callback(null, {
    result: ApplyResult.APPLY_RESULT_APPLIED,
    outcome: { status: 1, reason: call.request.orderId },
    raftIndex: 1, leaderId: "", leaderAddr: "",
  }),
}));
const client = new RaftNodeClient("127.0.0.1:" + server.port, insecure());
const request = (id) => ({ orderId: id, payload: new Uint8Array(100), outcome: { status: 1, reason: "" }, symbol: "", positionDelta: 0, maxPosition: 0 });
await unary(client, client.apply, request("warm-up"));
writes = 0;
let ok = 0;
for (let round = 0; round < 10; round++) {
  const replies = await Promise.all(Array.from({ length: 64 }, (_, i) =>
    unary(client, client.apply, request(round + "-" + i))));
  ok += replies.filter((r, i) => r.outcome.reason === round + "-" + i).length;
}
console.log(JSON.stringify({ calls: 640, ok, writes }));
Deno.exit(0);
`;

async function run(mode: "coalesce" | "plain"): Promise<{ ok: number; writes: number }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=js", CHILD, mode],
    cwd: new URL("../../..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.equal(output.code, 0);
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

Deno.test("coalesceHttp2Writes() answers concurrent gRPC calls with one socket write per batch, not per frame", async () => {
  const plain = await run("plain");
  const coalesced = await run("coalesce");
  // Both processes hold a server and a client session; each call is about 3 frames out of
  // the server (HEADERS, DATA, trailers) and 2 out of the client (HEADERS, DATA).
  assert.equal(plain.ok, 640);
  assert.equal(coalesced.ok, 640);
  assert.ok(plain.writes >= 640 * 3, `without coalescing: ${plain.writes} writes for 640 calls`);
  assert.ok(coalesced.writes < 640, `with coalescing: ${coalesced.writes} writes for 640 calls`);
  console.log(
    `  socket writes for 640 calls: ${plain.writes} per frame, ${coalesced.writes} coalesced`,
  );
});
