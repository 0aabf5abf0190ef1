/**
 * The supervisor's calls to its raft nodes (RaftNode.Status and the RaftAdmin chaos calls),
 * made from a short-lived child process: the internal `raft-call` role.
 *
 * Why a child process: the GOAWAY workaround (shared/grpc/grpc.ts `DENO_GOAWAY_WORKAROUND`): a
 * process whose node:http2 session receives a GOAWAY can abort or crash. A raft node stopped gracefully sends one to every client it has,
 * and a client closed gracefully sends one to the node. The supervisor must survive the
 * restart and the shutdown of every node, and must not crash a node by asking it something,
 * so it holds no gRPC channel itself: the `raft-call` process makes the calls and exits
 * without closing its channels (the kernel closes the sockets; no GOAWAY either way). Its
 * start costs less than 100 ms with a warm module cache.
 *
 * @module
 */
import { z } from "zod";
import { ChaosState, RaftAdminClient, RaftNodeClient, StatusResponse } from "@trading/proto/raft";
import { insecure, unary } from "@trading/shared/grpc";
import { RAFT_CHANNEL_OPTIONS } from "@trading/shared/raft-client";
import { errorMessage } from "@trading/shared/retry";
import type { ChildCommand } from "../supervision/child_spec.ts";
import { selfCommand } from "../supervision/self_command.ts";

/** What each method takes and returns. */
export interface RaftMethods {
  status: { request: Record<string, never>; response: StatusResponse };
  getChaos: { request: Record<string, never>; response: ChaosState };
  setChaos: {
    request: { enabled: boolean; profile: string; targetNodeId: string; seed: number };
    response: ChaosState;
  };
  partition: { request: { peers: string[] }; response: ChaosState };
  heal: { request: Record<string, never>; response: ChaosState };
}

/** One call: a node's gRPC address, a method and its request. */
export type RaftCallRequest = {
  [M in keyof RaftMethods]: { addr: string; method: M; request: RaftMethods[M]["request"] };
}[keyof RaftMethods];

/** The outcome of one call. */
export type RaftCallResult<M extends keyof RaftMethods = keyof RaftMethods> =
  | { ok: true; response: RaftMethods[M]["response"] }
  | { ok: false; error: string };

const CallSchema = z.discriminatedUnion("method", [
  z.object({ addr: z.string(), method: z.literal("status"), request: z.object({}).strict() }),
  z.object({ addr: z.string(), method: z.literal("getChaos"), request: z.object({}).strict() }),
  z.object({ addr: z.string(), method: z.literal("heal"), request: z.object({}).strict() }),
  z.object({
    addr: z.string(),
    method: z.literal("setChaos"),
    request: z.object({
      enabled: z.boolean(),
      profile: z.string(),
      targetNodeId: z.string(),
      seed: z.number().int().min(0),
    }),
  }),
  z.object({
    addr: z.string(),
    method: z.literal("partition"),
    request: z.object({ peers: z.array(z.string()) }),
  }),
]);

const InvocationSchema = z.object({
  deadlineMs: z.number().int().min(1).max(60_000),
  calls: z.array(CallSchema).min(1).max(64),
});

const ResultSchema = z.array(
  z.union([
    z.object({ ok: z.literal(true), response: z.string() }),
    z.object({ ok: z.literal(false), error: z.string() }),
  ]),
);

const encodeBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const decodeBase64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

const RESPONSE_CODEC = {
  status: StatusResponse,
  getChaos: ChaosState,
  setChaos: ChaosState,
  partition: ChaosState,
  heal: ChaosState,
} as const;

/** Options of {@linkcode callRaftNodes}. */
export interface CallRaftNodesOptions {
  /** Deadline of each gRPC call, ms. Default 1000 (a paused node must not hold a command). */
  deadlineMs?: number;
  /** How the `raft-call` role is started; default {@linkcode selfCommand}. */
  command?: ChildCommand;
  /** The nodes' CLUSTER_SECRET (their specs' environment), for the child to send. */
  clusterSecret?: string | undefined;
}

/**
 * Makes `calls` (at once, each with its own deadline) from a `raft-call` child process and
 * returns one result per call, in order. Never throws for a failed call; throws when the
 * child itself fails.
 */
export async function callRaftNodes<C extends readonly RaftCallRequest[]>(
  calls: C,
  options: CallRaftNodesOptions = {},
): Promise<{ [K in keyof C]: RaftCallResult<C[K]["method"]> }> {
  const deadlineMs = options.deadlineMs ?? 1000;
  const command = options.command ?? selfCommand("raft-call");
  const output = await new Deno.Command(command.executable, {
    args: [...command.args, JSON.stringify({ deadlineMs, calls })],
    // In the environment, not on the command line, where any local user could read it.
    ...(options.clusterSecret === undefined
      ? {}
      : { env: { CLUSTER_SECRET: options.clusterSecret } }),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(deadlineMs + 15_000),
  }).output();
  const decoder = new TextDecoder();
  const stdout = decoder.decode(output.stdout).trim();
  if (output.code !== 0) {
    throw new Error(
      `raft-call exited with code ${output.code}: ${decoder.decode(output.stderr).trim()}`,
    );
  }
  const parsed = ResultSchema.safeParse(JSON.parse(stdout.split("\n").at(-1) ?? "null"));
  if (!parsed.success || parsed.data.length !== calls.length) {
    throw new Error(`Unexpected raft-call output "${stdout.slice(0, 200)}": expected results`);
  }
  return parsed.data.map((result, i) =>
    result.ok
      ? {
        ok: true,
        response: RESPONSE_CODEC[calls[i]!.method].decode(decodeBase64(result.response)),
      }
      : result
  ) as { [K in keyof C]: RaftCallResult<C[K]["method"]> };
}

/**
 * The `raft-call` role: `main.ts raft-call '<json>'` with `{deadlineMs, calls}`; prints one
 * JSON line with a result per call (responses as base64 protobuf) and returns 0. Internal to
 * the supervisor. Returns without closing its channels on purpose (see the module comment):
 * main.ts exits the process right after.
 */
export async function main(args: string[]): Promise<number> {
  let invocation: z.output<typeof InvocationSchema>;
  try {
    invocation = InvocationSchema.parse(JSON.parse(args[0] ?? ""));
  } catch (error) {
    console.error(
      `Invalid raft-call arguments: expected one JSON {deadlineMs, calls} (${errorMessage(error)})`,
    );
    return 2;
  }
  const { deadlineMs, calls } = invocation;
  const raftClients = new Map<string, RaftNodeClient>();
  const adminClients = new Map<string, RaftAdminClient>();
  const raft = (addr: string) => {
    let client = raftClients.get(addr);
    if (!client) {
      raftClients.set(addr, client = new RaftNodeClient(addr, insecure(), RAFT_CHANNEL_OPTIONS));
    }
    return client;
  };
  const admin = (addr: string) => {
    let client = adminClients.get(addr);
    if (!client) {
      adminClients.set(addr, client = new RaftAdminClient(addr, insecure(), RAFT_CHANNEL_OPTIONS));
    }
    return client;
  };
  const options = { deadlineMs };
  const results = await Promise.all(calls.map(async (call) => {
    try {
      let bytes: Uint8Array;
      switch (call.method) {
        case "status": {
          const c = raft(call.addr);
          bytes = StatusResponse.encode(await unary(c, c.status, {}, options)).finish();
          break;
        }
        case "getChaos": {
          const c = admin(call.addr);
          bytes = ChaosState.encode(await unary(c, c.getChaos, {}, options)).finish();
          break;
        }
        case "heal": {
          const c = admin(call.addr);
          bytes = ChaosState.encode(await unary(c, c.heal, {}, options)).finish();
          break;
        }
        case "setChaos": {
          const c = admin(call.addr);
          bytes = ChaosState.encode(await unary(c, c.setChaos, call.request, options)).finish();
          break;
        }
        case "partition": {
          const c = admin(call.addr);
          bytes = ChaosState.encode(await unary(c, c.partition, call.request, options)).finish();
          break;
        }
      }
      return { ok: true, response: encodeBase64(bytes) };
    } catch (error) {
      return { ok: false, error: errorMessage(error) };
    }
  }));
  console.log(JSON.stringify(results));
  return 0;
}
