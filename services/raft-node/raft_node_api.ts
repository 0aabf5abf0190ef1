/**
 * The client API of a raft-node on PORT_GRPC (raft.proto, service `RaftNode`): Apply, Read,
 * Leader, Join, Leave, Status, TransferLeadership. Requests are validated here (the edge),
 * then handed to the {@linkcode RaftNode} as typed values.
 *
 * Status codes a client can rely on:
 * - `INVALID_ARGUMENT`: the request is malformed; retrying will not help.
 * - `UNAVAILABLE`: the node is starting or stopping, or lost leadership with the entry in
 *   flight; the outcome of an Apply is unknown (ask Read, then retry).
 * - `DEADLINE_EXCEEDED`: the entry was not applied in time; outcome unknown, as above.
 * - `FAILED_PRECONDITION`: the core refused the request (for example a membership change in
 *   progress); retry later.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { z } from "zod";
import {
  ApplyBatchRequest,
  ApplyBatchResponse,
  ApplyRequest,
  ApplyResponse,
  ApplyResult,
  RaftNodeClient,
  type RaftNodeServer,
  RaftNodeService,
  type StatusResponse,
} from "@trading/proto/raft";
import { OrderStatus } from "@trading/proto/orders";
import { insecure, unary } from "@trading/shared/grpc";
import { RAFT_CHANNEL_OPTIONS } from "@trading/shared/raft-client";
import { errorMessage } from "@trading/shared/retry";
import { type ApplyCommand, hashPayload } from "./state_machine.ts";
import { type ChangeReply, type RaftNode, RaftNodeError } from "./raft_node.ts";
import type { UnaryFastPathMethod } from "./http2/grpc_unary_fast_path.ts";

const applyRequestSchema = z.object({
  orderId: z.string().min(1).max(256),
  payload: z.instanceof(Uint8Array),
  outcome: z.object({
    status: z.union([
      z.literal(OrderStatus.ORDER_STATUS_ACCEPTED),
      z.literal(OrderStatus.ORDER_STATUS_REJECTED),
    ]),
    reason: z.string().max(256),
  }),
  symbol: z.string().max(64),
  positionDelta: z.number().int().refine(Number.isSafeInteger),
  maxPosition: z.number().int().min(0).refine(Number.isSafeInteger),
});

/** Validates an ApplyRequest and turns it into the state machine's command. */
export function parseApplyRequest(request: unknown): ApplyCommand | string {
  const parsed = applyRequestSchema.safeParse(request);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join(".") || "request";
    return `Invalid ApplyRequest.${field}: ${issue.message}`;
  }
  const r = parsed.data;
  return {
    orderId: r.orderId,
    payloadHash: hashPayload(r.payload),
    outcome: { status: r.outcome.status, reason: r.outcome.reason },
    symbol: r.symbol,
    positionDelta: r.positionDelta,
    maxPosition: r.maxPosition,
  };
}

/** The most requests one ApplyBatch may carry (raft.proto, `ApplyBatchRequest`). */
export const MAX_BATCH_REQUESTS = 10_000;

/** Validates an ApplyBatchRequest: every request as {@linkcode parseApplyRequest} does. */
export function parseApplyBatchRequest(request: unknown): ApplyCommand[] | string {
  const requests = (request as { requests?: unknown } | undefined)?.requests;
  if (!Array.isArray(requests) || requests.length === 0) {
    return "Invalid ApplyBatchRequest.requests: expected at least one request";
  }
  if (requests.length > MAX_BATCH_REQUESTS) {
    return `Invalid ApplyBatchRequest.requests: ${requests.length} requests, expected at most ${MAX_BATCH_REQUESTS}`;
  }
  const commands: ApplyCommand[] = [];
  for (let i = 0; i < requests.length; i++) {
    const command = parseApplyRequest(requests[i]);
    if (typeof command === "string") {
      return command.replace("Invalid ApplyRequest.", `Invalid ApplyBatchRequest.requests[${i}].`);
    }
    commands.push(command);
  }
  return commands;
}

const RESULT_CODE = {
  applied: ApplyResult.APPLY_RESULT_APPLIED,
  duplicate: ApplyResult.APPLY_RESULT_DUPLICATE,
  conflict: ApplyResult.APPLY_RESULT_CONFLICT,
} as const;

/** Maps a failure of the node to a gRPC status for the caller. */
export function toServiceError(error: unknown): Partial<grpc.StatusObject> {
  if (error instanceof RaftNodeError) {
    const code = error.kind === "timeout"
      ? grpc.status.DEADLINE_EXCEEDED
      : error.kind === "refused"
      ? grpc.status.FAILED_PRECONDITION
      : grpc.status.UNAVAILABLE;
    return { code, details: error.message };
  }
  return { code: grpc.status.INTERNAL, details: errorMessage(error) };
}

/**
 * The `RaftNode` gRPC service. Created before the node exists (the gRPC server starts
 * first); until {@linkcode RaftNodeApi.node} is set every call answers UNAVAILABLE.
 */
export class RaftNodeApi {
  /** The node served; undefined while starting. */
  node: RaftNode | undefined;
  /**
   * Clients used to forward Join, Leave and TransferLeadership to the leader, kept for the
   * process's life (no idle timeout, shared/grpc/grpc.ts `LONG_LIVED_CHANNEL_OPTIONS`); they go
   * away with this process.
   */
  #leaderClients = new Map<string, RaftNodeClient>();

  #withNode<Res>(
    callback: grpc.sendUnaryData<Res>,
    run: (node: RaftNode) => Promise<Res> | Res,
  ): void {
    const node = this.node;
    if (!node) {
      callback({ code: grpc.status.UNAVAILABLE, details: "Raft node is starting" });
      return;
    }
    Promise.resolve().then(() => run(node)).then(
      (response) => callback(null, response),
      (error) => callback(toServiceError(error)),
    );
  }

  #leaderClient(address: string): RaftNodeClient {
    let client = this.#leaderClients.get(address);
    if (!client) {
      client = new RaftNodeClient(address, insecure(), RAFT_CHANNEL_OPTIONS);
      this.#leaderClients.set(address, client);
    }
    return client;
  }

  /** Runs `local` on the leader, or forwards the call to the leader this node knows. */
  async #onLeader<Res extends ChangeReply>(
    node: RaftNode,
    local: () => Promise<Res>,
    forward: (client: RaftNodeClient) => Promise<Res>,
  ): Promise<Res> {
    const reply = await local();
    if (reply.accepted || node.role === "leader" || reply.leaderAddr === "") return reply;
    // This node is not the leader but knows it: forward, once (the leader answers itself).
    return await forward(this.#leaderClient(reply.leaderAddr));
  }

  /**
   * Answers an ApplyRequest, for the gRPC method and its fast path alike. Rejects with a gRPC
   * status (`Partial<grpc.StatusObject>`).
   */
  async apply(request: ApplyRequest): Promise<ApplyResponse> {
    const command = parseApplyRequest(request);
    if (typeof command === "string") {
      throw { code: grpc.status.INVALID_ARGUMENT, details: command };
    }
    const node = this.node;
    if (!node) throw { code: grpc.status.UNAVAILABLE, details: "Raft node is starting" };
    const started = performance.now();
    let reply;
    try {
      reply = await node.apply(command);
    } catch (error) {
      throw toServiceError(error);
    }
    if (reply.kind === "not-leader") {
      return {
        result: ApplyResult.APPLY_RESULT_NOT_LEADER,
        outcome: undefined,
        raftIndex: 0,
        leaderId: reply.leaderId,
        leaderAddr: reply.leaderAddr,
      };
    }
    node.metrics.applySeconds[reply.result].observe((performance.now() - started) / 1000);
    return {
      result: RESULT_CODE[reply.result],
      outcome: { status: reply.outcome.status, reason: reply.outcome.reason },
      raftIndex: reply.index,
      leaderId: node.id,
      leaderAddr: node.config.grpcAddr,
    };
  }

  /**
   * Answers an ApplyBatchRequest: every order as {@linkcode apply} would, in one call. Rejects
   * with a gRPC status when the request is malformed or any order's outcome is unknown.
   */
  async applyBatch(request: ApplyBatchRequest): Promise<ApplyBatchResponse> {
    const commands = parseApplyBatchRequest(request);
    if (typeof commands === "string") {
      throw { code: grpc.status.INVALID_ARGUMENT, details: commands };
    }
    const node = this.node;
    if (!node) throw { code: grpc.status.UNAVAILABLE, details: "Raft node is starting" };
    const started = performance.now();
    let replies;
    try {
      replies = await node.applyBatch(commands);
    } catch (error) {
      throw toServiceError(error);
    }
    const seconds = (performance.now() - started) / 1000;
    node.metrics.applyBatches.inc();
    const responses: ApplyResponse[] = replies.map((reply) => {
      if (reply.kind === "not-leader") {
        return {
          result: ApplyResult.APPLY_RESULT_NOT_LEADER,
          outcome: undefined,
          raftIndex: 0,
          leaderId: reply.leaderId,
          leaderAddr: reply.leaderAddr,
        };
      }
      node.metrics.applySeconds[reply.result].observe(seconds);
      return {
        result: RESULT_CODE[reply.result],
        outcome: { status: reply.outcome.status, reason: reply.outcome.reason },
        raftIndex: reply.index,
        leaderId: node.id,
        leaderAddr: node.config.grpcAddr,
      };
    });
    return { responses };
  }

  /** ApplyBatch for grpc_unary_fast_path.ts, like {@linkcode applyFastPath}. */
  applyBatchFastPath(
    clusterSecret?: string,
  ): UnaryFastPathMethod<ApplyBatchRequest, ApplyBatchResponse> {
    return {
      path: RaftNodeService.applyBatch.path,
      clusterSecret,
      decode: (bytes) => ApplyBatchRequest.decode(bytes),
      encode: (response) => ApplyBatchResponse.encode(response).finish(),
      handle: (request) => this.applyBatch(request),
    };
  }

  /**
   * Apply for grpc_unary_fast_path.ts: the hot method, served without grpc-js, and so
   * without its interceptors: the cluster secret is checked by the fast path itself.
   */
  applyFastPath(clusterSecret?: string): UnaryFastPathMethod<ApplyRequest, ApplyResponse> {
    return {
      path: RaftNodeService.apply.path,
      clusterSecret,
      decode: (bytes) => ApplyRequest.decode(bytes),
      encode: (response) => ApplyResponse.encode(response).finish(),
      handle: (request) => this.apply(request),
    };
  }

  /** The implementation to add to a gRPC server. */
  implementation(): RaftNodeServer {
    return {
      apply: (call, callback) => {
        this.apply(call.request).then(
          (response) => callback(null, response),
          (status: Partial<grpc.StatusObject>) => callback(status),
        );
      },
      applyBatch: (call, callback) => {
        this.applyBatch(call.request).then(
          (response) => callback(null, response),
          (status: Partial<grpc.StatusObject>) => callback(status),
        );
      },
      read: (call, callback) => {
        const { orderId, stale } = call.request;
        if (typeof orderId !== "string" || orderId === "") {
          callback({
            code: grpc.status.INVALID_ARGUMENT,
            details: "Invalid ReadRequest.orderId: expected a non-empty order id",
          });
          return;
        }
        this.#withNode(callback, async (node) => {
          const reply = await node.read(orderId, { stale });
          if (reply.kind === "not-leader") {
            return {
              found: false,
              outcome: undefined,
              raftIndex: 0,
              payloadHash: new Uint8Array(),
              notLeader: true,
              leaderId: reply.leaderId,
              leaderAddr: reply.leaderAddr,
            };
          }
          const record = reply.record;
          return {
            found: record !== undefined,
            outcome: record
              ? { status: record.outcome.status, reason: record.outcome.reason }
              : undefined,
            raftIndex: record?.index ?? 0,
            payloadHash: record?.payloadHash ?? new Uint8Array(),
            notLeader: false,
            leaderId: node.leaderId,
            leaderAddr: node.leaderAddr,
          };
        });
      },
      leader: (_call, callback) => {
        this.#withNode(callback, (node) => ({
          leaderId: node.leaderId,
          leaderAddr: node.leaderAddr,
          term: node.term,
        }));
      },
      join: (call, callback) => {
        const { nodeId, raftAddr, grpcAddr } = call.request;
        if (!/^[A-Za-z0-9_-]{1,64}$/.test(nodeId) || raftAddr === "" || grpcAddr === "") {
          callback({
            code: grpc.status.INVALID_ARGUMENT,
            details:
              `Invalid JoinRequest for "${nodeId}": expected a node id, raft_addr and grpc_addr`,
          });
          return;
        }
        this.#withNode(callback, (node) =>
          this.#onLeader(
            node,
            () => node.join(nodeId, { raft: raftAddr, grpc: grpcAddr }),
            (client) => unary(client, client.join, call.request, { deadlineMs: 10_000 }),
          ));
      },
      leave: (call, callback) => {
        const { nodeId } = call.request;
        this.#withNode(callback, (node) =>
          this.#onLeader(
            node,
            () => node.leave(nodeId),
            (client) => unary(client, client.leave, call.request, { deadlineMs: 10_000 }),
          ));
      },
      transferLeadership: (call, callback) => {
        const { targetNodeId } = call.request;
        this.#withNode(callback, async (node) => {
          const reply = await this.#onLeader(
            node,
            () => node.transferLeadership(targetNodeId),
            async (client) => {
              const r = await unary(client, client.transferLeadership, call.request, {
                deadlineMs: 10_000,
              });
              return { ...r, leaderId: "", leaderAddr: "" };
            },
          );
          return { accepted: reply.accepted, message: reply.message };
        });
      },
      status: (_call, callback) => {
        this.#withNode(callback, (node) => statusResponse(node));
      },
    };
  }
}

/** Builds the Status response of a node. */
export function statusResponse(node: RaftNode): StatusResponse {
  const s = node.status();
  const tickMs = node.config.tickMs;
  const peers = new Map(s.peers.map((p) => [p.id, p]));
  const members = [...s.conf.voters, ...s.conf.learners].map((id) => {
    const addresses = node.members.get(id);
    const peer = peers.get(id);
    return {
      nodeId: id,
      raftAddr: addresses?.raft ?? "",
      grpcAddr: addresses?.grpc ?? "",
      voter: s.conf.voters.includes(id),
      matchIndex: id === node.id ? s.lastIndex : peer?.match ?? 0,
      lastContactMs: peer ? peer.ticksSinceContact * tickMs : 0,
    };
  });
  return {
    nodeId: node.id,
    role: s.role,
    term: s.term,
    leaderId: s.leader,
    commitIndex: s.commit,
    appliedIndex: s.applied,
    lastIndex: s.lastIndex,
    snapshotIndex: s.snapshotIndex,
    members,
    lastContactMs: s.role === "leader" ? 0 : s.ticksSinceLeaderContact * tickMs,
    orders: node.stateMachine.size,
  };
}
