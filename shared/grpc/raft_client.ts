/**
 * The client of the Raft de-duplication cluster (raft.proto, service `RaftNode`): finds and
 * remembers the leader, follows NOT_LEADER redirects, retries with backoff and jitter, and
 * never applies blindly twice: after an Apply whose outcome is uncertain (deadline exceeded,
 * connection lost, UNAVAILABLE) it asks a linearizable `Read(order_id)` of the leader first
 * and returns the stored outcome when the order is there (docs/DESIGN.md, "The guarantee", 3).
 *
 * @example
 * ```ts
 * const raft = new RaftClient({ addresses: ["127.0.0.1:50070", "127.0.0.1:50071"] });
 * const response = await raft.apply(ApplyRequest.fromPartial({ orderId, payload, outcome }));
 * raft.close();
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import {
  type ApplyBatchResponse,
  type ApplyRequest,
  type ApplyResponse,
  ApplyResult,
  type LeaderResponse,
  RaftNodeClient,
  type ReadResponse,
  type StatusResponse,
} from "@trading/proto/raft";
import {
  closeClient,
  grpc,
  GRPC_OPTIONS,
  insecure,
  isGrpcStatus,
  LONG_LIVED_CHANNEL_OPTIONS,
  unary,
  withClusterSecret,
} from "./grpc.ts";
import {
  backoffDelay,
  errorMessage,
  retry,
  RetryError,
  type RetryOptions,
  sleep,
} from "../runtime/retry.ts";

/** Options of {@linkcode RaftClient}. */
export interface RaftClientOptions {
  /** Client (gRPC) addresses of the cluster's nodes, `host:port`; at least one. */
  addresses: readonly string[];
  /** Deadline of one call, in ms. Default 3000. */
  deadlineMs?: number;
  /** Attempts per operation (redirects and the reads after an uncertain Apply count). Default 20. */
  maxAttempts?: number;
  /** Aborts every operation in progress and every wait between attempts. */
  signal?: AbortSignal;
  /** Delay before the second attempt, in ms (doubling, full jitter). Default 25. */
  initialBackoffMs?: number;
  /**
   * Longest delay between attempts, in ms. Default 250: a failover on loopback takes about
   * one election timeout, and a longer wait would add to it.
   */
  maxBackoffMs?: number;
  /**
   * Called after every single Apply and linearizable Read call the client makes (each
   * attempt, each redirect), for logging, metrics or recording a history.
   */
  onCall?: (call: RaftCall) => void;
  /**
   * The cluster secret to send, for a client of a cluster whose secret is not this
   * process's own `CLUSTER_SECRET` (a test or tool that started the cluster). Default: this
   * process's.
   */
  clusterSecret?: string;
}

/** One gRPC call made by a {@linkcode RaftClient}, reported to `onCall`. */
export type RaftCall =
  & {
    readonly address: string;
    readonly orderId: string;
    /** `performance.now()` when the call was issued and when it ended. */
    readonly start: number;
    readonly end: number;
  }
  & (
    | { readonly kind: "apply"; readonly response: ApplyResponse }
    | { readonly kind: "read"; readonly response: ReadResponse }
    /** The call failed; for an Apply the outcome is unknown unless the code says otherwise. */
    | { readonly kind: "apply" | "read"; readonly error: unknown }
  );

/**
 * Channel options for clients of raft-nodes: the shared options (the cluster secret
 * included), with
 * - grpc-js's reconnect backoff (1 s growing to 120 s by default) cut to 100 ms growing to
 *   1 s, because a restarted node must be usable again within about an election timeout;
 * - {@linkcode LONG_LIVED_CHANNEL_OPTIONS} (no idle timeout while the GOAWAY workaround is
 *   on, shared/grpc/grpc.ts `DENO_GOAWAY_WORKAROUND`).
 */
export const RAFT_CHANNEL_OPTIONS: grpc.ClientOptions = {
  ...GRPC_OPTIONS,
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1000,
  ...LONG_LIVED_CHANNEL_OPTIONS,
};

/** Thrown when an operation failed on every attempt; `uncertain` when an Apply may have happened. */
export class RaftClientError extends Error {
  /** True when an Apply may have been recorded although no answer said so. */
  readonly uncertain: boolean;
  constructor(message: string, uncertain: boolean, cause?: unknown) {
    super(message, { cause });
    this.name = "RaftClientError";
    this.uncertain = uncertain;
  }
}

/**
 * The payload hash the state machine stores (services/raft-node/state_machine.ts,
 * `hashPayload`: the first 16 bytes of SHA-256), to tell our own earlier Apply from a
 * different payload under the same id.
 */
function payloadHash(payload: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(payload).digest().subarray(0, 16));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A gRPC error after which a request may have reached the node (its outcome is unknown). */
function mayHaveReached(error: unknown): boolean {
  return !isGrpcStatus(error, grpc.status.INVALID_ARGUMENT, grpc.status.UNIMPLEMENTED);
}

/**
 * A client of the raft-node cluster. One channel per address, kept for the client's life;
 * safe for many concurrent calls.
 */
export class RaftClient {
  readonly #addresses: string[];
  readonly #deadlineMs: number;
  readonly #maxAttempts: number;
  readonly #signal: AbortSignal | undefined;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #onCall: ((call: RaftCall) => void) | undefined;
  readonly #channelOptions: grpc.ClientOptions;
  #clients = new Map<string, RaftNodeClient>();
  #leader: string | undefined;
  #next = 0;
  #closed = false;

  constructor(options: RaftClientOptions) {
    if (options.addresses.length === 0) {
      throw new Error("Invalid RaftClient addresses []: expected at least one host:port");
    }
    this.#addresses = [...options.addresses];
    this.#deadlineMs = options.deadlineMs ?? 3000;
    this.#maxAttempts = options.maxAttempts ?? 20;
    this.#signal = options.signal;
    this.#initialBackoffMs = options.initialBackoffMs ?? 25;
    this.#maxBackoffMs = options.maxBackoffMs ?? 250;
    this.#onCall = options.onCall;
    this.#channelOptions = options.clusterSecret === undefined
      ? RAFT_CHANNEL_OPTIONS
      : withClusterSecret(options.clusterSecret, RAFT_CHANNEL_OPTIONS);
  }

  /** The address of the node this client believes leads, if any. */
  get leaderAddress(): string | undefined {
    return this.#leader;
  }

  #client(address: string): RaftNodeClient {
    if (this.#closed) throw new Error("RaftClient is closed: expected calls before close()");
    let client = this.#clients.get(address);
    if (!client) {
      client = new RaftNodeClient(address, insecure(), this.#channelOptions);
      this.#clients.set(address, client);
    }
    return client;
  }

  /** The leader if known, else the next address in turn. */
  #target(): string {
    if (this.#leader !== undefined) return this.#leader;
    const address = this.#addresses[this.#next % this.#addresses.length]!;
    this.#next++;
    return address;
  }

  #forget(address: string): void {
    if (this.#leader === address) this.#leader = undefined;
  }

  #follow(leaderAddr: string, from: string): void {
    // A node that knows no leader, or names itself, gives no redirect worth following.
    this.#leader = leaderAddr !== "" && leaderAddr !== from ? leaderAddr : undefined;
  }

  /** The backoff of every retry here, as {@linkcode retry} takes it. */
  #retryOptions(): RetryOptions {
    return {
      maxAttempts: this.#maxAttempts,
      initialDelayMs: this.#initialBackoffMs,
      maxDelayMs: this.#maxBackoffMs,
      ...(this.#signal ? { signal: this.#signal } : {}),
    };
  }

  /**
   * The wait after a failed attempt of {@linkcode apply} and {@linkcode applyBatch}, which
   * cannot use {@linkcode retry}: a redirect to a known leader is followed at once but counts
   * as an attempt, and an uncertain attempt changes what the next one is (a Read first).
   */
  async #backoff(attempt: number): Promise<void> {
    await sleep(backoffDelay(attempt, this.#retryOptions()), this.#signal);
  }

  #options(): { deadlineMs: number; signal?: AbortSignal } {
    return this.#signal ? { deadlineMs: this.#deadlineMs, signal: this.#signal } : {
      deadlineMs: this.#deadlineMs,
    };
  }

  /**
   * Records an order's outcome once. Returns APPLIED, DUPLICATE (the first outcome) or
   * CONFLICT (same id, other payload). After an uncertain attempt the stored record, if any,
   * is returned as APPLIED (same payload) or CONFLICT (other payload) instead of applying
   * again. Throws {@linkcode RaftClientError} after `maxAttempts`.
   */
  apply(request: ApplyRequest): Promise<ApplyResponse> {
    return this.#applyOne(request, false);
  }

  /** {@linkcode apply}, starting with a Read when an earlier attempt was `uncertain`. */
  async #applyOne(request: ApplyRequest, uncertainAtStart: boolean): Promise<ApplyResponse> {
    let uncertain = uncertainAtStart;
    let lastError: unknown;
    let hash: Uint8Array | undefined;
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      this.#signal?.throwIfAborted();
      if (uncertain) {
        // docs/DESIGN.md guarantee 3: decide whether the uncertain Apply happened before retrying.
        let found: ReadResponse | undefined;
        try {
          found = await this.#readOnce(request.orderId);
        } catch (error) {
          lastError = error;
        }
        if (found === undefined) {
          await this.#backoff(attempt);
          continue;
        }
        if (found.found) {
          hash ??= payloadHash(request.payload);
          const same = sameBytes(found.payloadHash, hash);
          return {
            result: same ? ApplyResult.APPLY_RESULT_APPLIED : ApplyResult.APPLY_RESULT_CONFLICT,
            outcome: found.outcome,
            raftIndex: found.raftIndex,
            leaderId: found.leaderId,
            leaderAddr: found.leaderAddr,
          };
        }
        uncertain = false;
      }
      const address = this.#target();
      let response: ApplyResponse;
      const start = performance.now();
      try {
        const client = this.#client(address);
        response = await unary(client, client.apply, request, this.#options());
        this.#onCall?.({
          kind: "apply",
          address,
          orderId: request.orderId,
          start,
          end: performance.now(),
          response,
        });
      } catch (error) {
        this.#onCall?.({
          kind: "apply",
          address,
          orderId: request.orderId,
          start,
          end: performance.now(),
          error,
        });
        this.#signal?.throwIfAborted();
        if (!mayHaveReached(error)) throw error;
        lastError = error;
        this.#forget(address);
        uncertain = true;
        await this.#backoff(attempt);
        continue;
      }
      if (response.result === ApplyResult.APPLY_RESULT_NOT_LEADER) {
        lastError = new Error(`${address} is not the leader (leader "${response.leaderId}")`);
        this.#follow(response.leaderAddr, address);
        // A redirect to a known leader is followed at once; no leader known means an
        // election is under way: wait a little.
        if (this.#leader === undefined) await this.#backoff(attempt);
        continue;
      }
      this.#leader = address;
      return response;
    }
    throw new RaftClientError(
      `Apply of ${request.orderId} failed after ${this.#maxAttempts} attempts: ${
        errorMessage(lastError)
      }`,
      uncertain,
      lastError,
    );
  }

  /**
   * Records several orders in one `ApplyBatch` call to the leader: one response per request,
   * in order, each what {@linkcode apply} would return. Follows NOT_LEADER redirects with
   * the whole batch; after an attempt whose outcome is uncertain (or a node without
   * ApplyBatch) it resolves every order on its own, as {@linkcode apply} does after an
   * uncertain attempt (Read first), so no order is ever applied blindly twice.
   */
  async applyBatch(requests: readonly ApplyRequest[]): Promise<ApplyResponse[]> {
    if (requests.length === 0) return [];
    let uncertain = false;
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      this.#signal?.throwIfAborted();
      const address = this.#target();
      let response: ApplyBatchResponse;
      try {
        const client = this.#client(address);
        response = await unary(client, client.applyBatch, { requests: [...requests] }, {
          ...this.#options(),
          // A batch is written in one go, but its calls carry more bytes than one Apply.
          deadlineMs: this.#deadlineMs * 2,
        });
      } catch (error) {
        this.#signal?.throwIfAborted();
        if (isGrpcStatus(error, grpc.status.INVALID_ARGUMENT)) throw error;
        this.#forget(address);
        uncertain = mayHaveReached(error);
        break;
      }
      if (response.responses.length !== requests.length) {
        // Not an answer this client understands; the orders may have been recorded.
        uncertain = true;
        break;
      }
      const first = response.responses[0]!;
      if (first.result !== ApplyResult.APPLY_RESULT_NOT_LEADER) {
        this.#leader = address;
        return response.responses;
      }
      this.#follow(first.leaderAddr, address);
      if (this.#leader === undefined) await this.#backoff(attempt);
    }
    // Uncertain, unsupported or out of attempts: every order on its own, reading before
    // re-applying when the batch may have been recorded.
    return await Promise.all(requests.map((request) => this.#applyOne(request, uncertain)));
  }

  /** One linearizable read on the leader, following redirects; undefined when not served. */
  async #readOnce(orderId: string): Promise<ReadResponse | undefined> {
    for (let hop = 0; hop < 3; hop++) {
      const address = this.#target();
      const client = this.#client(address);
      let response: ReadResponse;
      const start = performance.now();
      try {
        response = await unary(client, client.read, { orderId, stale: false }, this.#options());
        this.#onCall?.({ kind: "read", address, orderId, start, end: performance.now(), response });
      } catch (error) {
        this.#onCall?.({ kind: "read", address, orderId, start, end: performance.now(), error });
        this.#forget(address);
        throw error;
      }
      if (!response.notLeader) {
        this.#leader = address;
        return response;
      }
      this.#follow(response.leaderAddr, address);
      if (this.#leader === undefined) return undefined;
    }
    return undefined;
  }

  /**
   * Reads an order's record: linearizable on the leader by default, or `stale` from
   * whichever node answers. Retries like {@linkcode apply} (a read is always safe to retry).
   */
  async read(orderId: string, { stale = false }: { stale?: boolean } = {}): Promise<ReadResponse> {
    const readOnce = async (): Promise<ReadResponse> => {
      if (stale) {
        const address = this.#target();
        const client = this.#client(address);
        try {
          return await unary(client, client.read, { orderId, stale: true }, this.#options());
        } catch (error) {
          this.#forget(address);
          throw error;
        }
      }
      const response = await this.#readOnce(orderId);
      if (response) return response;
      throw new Error("no leader known");
    };
    try {
      return await retry(readOnce, {
        ...this.#retryOptions(),
        shouldRetry: (error) => !isGrpcStatus(error, grpc.status.INVALID_ARGUMENT),
      });
    } catch (error) {
      if (!(error instanceof RetryError)) throw error;
      throw new RaftClientError(
        `Read of ${orderId} failed after ${error.attempts} attempts: ${errorMessage(error.cause)}`,
        false,
        error.cause,
      );
    }
  }

  /** The current leader as the first node that knows one reports it. */
  async leader(): Promise<LeaderResponse> {
    const askOnce = async (): Promise<LeaderResponse> => {
      const address = this.#target();
      let response: LeaderResponse;
      try {
        const client = this.#client(address);
        response = await unary(client, client.leader, {}, this.#options());
      } catch (error) {
        this.#forget(address);
        throw error;
      }
      if (response.leaderId === "") throw new Error("no node knows a leader");
      if (response.leaderAddr !== "") this.#leader = response.leaderAddr;
      return response;
    };
    try {
      return await retry(askOnce, this.#retryOptions());
    } catch (error) {
      if (!(error instanceof RetryError)) throw error;
      throw new RaftClientError(
        `No leader found: ${errorMessage(error.cause)}`,
        false,
        error.cause,
      );
    }
  }

  /** The Status of the node at `address` (one call, no retry), or of the leader or first node. */
  status(address?: string): Promise<StatusResponse> {
    const target = address ?? this.#leader ?? this.#addresses[0]!;
    const client = this.#client(target);
    return unary(client, client.status, {}, this.#options());
  }

  /**
   * Closes every channel. The client cannot be used afterwards. Note: while the GOAWAY
   * workaround is on (shared/grpc/grpc.ts `DENO_GOAWAY_WORKAROUND`) a graceful close can abort a
   * raft-node that served this client many calls; a long-lived process should keep its
   * client until it exits. In a process that is shutting down this leaves the channels for
   * the exit to close ({@linkcode closeClient}).
   */
  close(): void {
    this.#closed = true;
    for (const client of this.#clients.values()) closeClient(client);
    this.#clients.clear();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
