import assert from "node:assert/strict";

// Runs in a child process: the fast path patches node:http2 for the whole process. The child
// serves RaftNode with grpc-js (every method answers "grpc-js") and routes Apply to the fast
// path, then calls both through a grpc-js client and sends one malformed Apply by hand.
const CHILD = `
import http2 from "node:http2";
const { installHttp2StreamRoutes, serveUnaryFastPath } = await import(${
  JSON.stringify(new URL("./grpc_unary_fast_path.ts", import.meta.url).href)
});
installHttp2StreamRoutes();
const { ApplyRequest, ApplyResponse, ApplyResult, RaftNodeClient, RaftNodeService } = await import("@trading/proto/raft");
const { grpc, insecure, startGrpcServer, unary } = await import("@trading/shared/grpc");
const byGrpcJs = { apply: 0, leader: 0 };
const server = await startGrpcServer(0, (s) => s.addService(RaftNodeService, {
  apply: (_call, callback) => { byGrpcJs.apply++; callback({ code: grpc.status.INTERNAL, details: "grpc-js" }); },
  leader: (_call, callback) => { byGrpcJs.leader++; callback(null, { leaderId: "grpc-js", leaderAddr: "", term: 7 }); },
}));
serveUnaryFastPath({
  path: RaftNodeService.apply.path,
  decode: (bytes) => ApplyRequest.decode(bytes),
  encode: (response) => ApplyResponse.encode(response).finish(),
  handle: async (request) => {
    if (request.orderId === "refuse") throw { code: grpc.status.FAILED_PRECONDITION, details: "not now: 100% busy — later" };
    return { result: ApplyResult.APPLY_RESULT_APPLIED, outcome: { status: 1, reason: "echo " + request.orderId }, raftIndex: 42, leaderId: "fast", leaderAddr: "" };
  },
});
const address = "127.0.0.1:" + server.port;
const client = new RaftNodeClient(address, insecure());
const request = (id) => ({ orderId: id, payload: new Uint8Array(100), outcome: { status: 1, reason: "" }, symbol: "", positionDelta: 0, maxPosition: 0 });
const applied = await Promise.all(Array.from({ length: 20 }, (_, i) => unary(client, client.apply, request("o" + i))));
const refused = await unary(client, client.apply, request("refuse")).then(() => undefined, (e) => ({ code: e.code, details: e.details }));
const leader = await unary(client, client.leader, {});
// A body that is not one gRPC frame, sent without grpc-js.
const session = http2.connect("http://" + address);
const malformed = await new Promise((resolve) => {
  const stream = session.request({ ":method": "POST", ":path": RaftNodeService.apply.path, "content-type": "application/grpc", te: "trailers" });
  stream.on("response", (headers) => resolve({ status: headers["grpc-status"], message: decodeURIComponent(headers["grpc-message"] ?? "") }));
  stream.end(new Uint8Array([0, 0, 0, 0, 9, 1, 2]));
});
console.log(JSON.stringify({
  applied: applied.map((r) => [r.result, r.outcome?.reason, r.raftIndex, r.leaderId]),
  refused, leader: leader.leaderId, byGrpcJs, malformed,
}));
Deno.exit(0);
`;

Deno.test("serveUnaryFastPath() answers its method without grpc-js on the same server, statuses included, and leaves other methods to grpc-js", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=js", CHILD],
    cwd: new URL("../../..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.equal(output.code, 0);
  const result = JSON.parse(new TextDecoder().decode(output.stdout));
  assert.equal(result.applied.length, 20);
  result.applied.forEach((r: unknown[], i: number) =>
    assert.deepEqual(r, [1, `echo o${i}`, 42, "fast"])
  );
  assert.deepEqual(result.refused, { code: 9, details: "not now: 100% busy — later" });
  assert.equal(result.leader, "grpc-js");
  assert.deepEqual(result.byGrpcJs, { apply: 0, leader: 1 });
  assert.equal(result.malformed.status, "13");
  assert.match(result.malformed.message, /expected one message of 9 bytes, got 2/);
});
