/**
 * Records one order through Raft and makes its event: the stateless risk outcome goes to the
 * state machine with the position check, and the event carries what the state machine stored
 * (for a duplicate, the first outcome and its Raft index), so every copy of an order's event
 * says the same thing whoever makes it.
 *
 * @module
 */
import {
  ApplyRequest,
  type ApplyResponse,
  ApplyResult,
  type OrderCommand,
  OrderEvent,
  OrderStatus,
  Side,
} from "@trading/proto";
import { canonicalCommandBytes } from "@trading/shared/command-schema";
import { errorMessage, retry } from "@trading/shared/retry";
import { nowUs } from "@trading/shared/now-us";
import type { Logger } from "@trading/shared/log";
import { histogram } from "@trading/shared/metrics";
import { checkRisk, type RiskLimits } from "./risk_checks.ts";

const applySeconds = histogram(
  "raft_apply_seconds",
  "Time to record one order through Raft (retries included)",
);

/** The part of `RaftClient` (shared/grpc/raft_client.ts) the recorder uses. */
export interface RaftApplier {
  apply(request: ApplyRequest): Promise<ApplyResponse>;
  /** One response per request, in order (`RaftClient.applyBatch`). */
  applyBatch(requests: readonly ApplyRequest[]): Promise<ApplyResponse[]>;
}

/** One order of {@linkcode OrderRecorder.recordBatch}: the command and its symbol's last price. */
export interface OrderToRecord {
  readonly command: OrderCommand;
  readonly referencePrice: number | undefined;
}

/** The result of {@linkcode OrderRecorder.record}. */
export interface RecordedOrder {
  event: OrderEvent;
  /** APPLIED (first time), DUPLICATE, or CONFLICT (the id was used by another command). */
  result: ApplyResult;
}

/** Options of {@linkcode OrderRecorder}. */
export interface OrderRecorderOptions {
  raft: RaftApplier;
  limits: RiskLimits;
  executorId: string;
  log: Logger;
  /** Aborts the retries (hard stop). */
  signal: AbortSignal;
  /** Epoch microseconds, injectable for tests. */
  nowUs?: () => number;
}

/** Risk checks + Raft Apply + the event of one order. */
export class OrderRecorder {
  #o: OrderRecorderOptions;

  constructor(options: OrderRecorderOptions) {
    this.#o = options;
  }

  /**
   * Decides and records `command` against `referencePrice` (the symbol's last price).
   * Retries while Raft is unavailable, until it answers or the signal aborts, calling
   * `onWait` between attempts.
   */
  async record(
    command: OrderCommand,
    referencePrice: number | undefined,
    onWait?: () => Promise<void>,
  ): Promise<RecordedOrder> {
    const request = this.#request(command, referencePrice);
    const started = performance.now();
    const response = await this.#retry(
      request.orderId,
      async () => checkResult(await this.#o.raft.apply(request), request.orderId),
      onWait,
    );
    applySeconds.observe((performance.now() - started) / 1000);
    return this.#recorded(command, request, response);
  }

  /**
   * {@linkcode record} for several orders in one ApplyBatch call (a chunk costs one request
   * and one Raft round instead of one per order); the same outcome per order, in order.
   */
  async recordBatch(
    orders: readonly OrderToRecord[],
    onWait?: () => Promise<void>,
  ): Promise<RecordedOrder[]> {
    if (orders.length === 0) return [];
    const requests = orders.map((o) => this.#request(o.command, o.referencePrice));
    const started = performance.now();
    const responses = await this.#retry(
      `${requests[0]!.orderId} and ${requests.length - 1} more`,
      async () => {
        const answered = await this.#o.raft.applyBatch(requests);
        answered.forEach((response, i) => checkResult(response, requests[i]!.orderId));
        return answered;
      },
      onWait,
    );
    const seconds = (performance.now() - started) / 1000;
    return orders.map((o, i) => {
      applySeconds.observe(seconds);
      return this.#recorded(o.command, requests[i]!, responses[i]!);
    });
  }

  #request(command: OrderCommand, referencePrice: number | undefined): ApplyRequest {
    const { limits } = this.#o;
    return ApplyRequest.fromPartial({
      orderId: command.orderId,
      payload: canonicalCommandBytes(command),
      outcome: checkRisk(command, referencePrice, limits),
      symbol: command.symbol,
      positionDelta: command.side === Side.SIDE_BUY ? command.quantity : -command.quantity,
      maxPosition: limits.maxPosition,
    });
  }

  #recorded(command: OrderCommand, request: ApplyRequest, response: ApplyResponse): RecordedOrder {
    const stored = response.outcome ?? request.outcome!;
    const event = OrderEvent.fromPartial({
      orderId: command.orderId,
      status: stored.status,
      reason: stored.status === OrderStatus.ORDER_STATUS_ACCEPTED ? "" : stored.reason,
      executorId: this.#o.executorId,
      raftIndex: response.raftIndex,
      symbol: command.symbol,
      side: command.side,
      quantity: command.quantity,
      limitPrice: command.limitPrice,
      tickCreatedAtUs: command.tickCreatedAtUs,
      commandCreatedAtUs: command.createdAtUs,
      createdAtUs: (this.#o.nowUs ?? nowUs)(),
    });
    return { event, result: response.result };
  }

  /** Runs `call` until it answers, as {@linkcode record} describes. */
  #retry<T>(what: string, call: () => Promise<T>, onWait?: () => Promise<void>): Promise<T> {
    // The client already retried with backoff (and read after uncertain attempts); the
    // cluster is down or electing. Keep trying: the command must get its outcome.
    return retry(call, {
      maxAttempts: Infinity,
      initialDelayMs: 100,
      maxDelayMs: 1000,
      jitter: 0,
      signal: this.#o.signal,
      onRetry: async (error, attempt) => {
        if (attempt === 1 || attempt % 10 === 0) {
          this.#o.log.warn("Raft Apply of {orderId} failed (attempt {attempt}): {error}", {
            orderId: what,
            attempt,
            error: errorMessage(error),
          });
        }
        // Between retries, e.g. a consumer heartbeat so that the group keeps the member.
        await onWait?.();
      },
    });
  }
}

/** Throws unless `response` is a final answer (APPLIED, DUPLICATE or CONFLICT). */
function checkResult(response: ApplyResponse, orderId: string): ApplyResponse {
  if (
    response.result === ApplyResult.APPLY_RESULT_APPLIED ||
    response.result === ApplyResult.APPLY_RESULT_DUPLICATE ||
    response.result === ApplyResult.APPLY_RESULT_CONFLICT
  ) {
    return response;
  }
  throw new Error(`Unexpected Apply result ${response.result} for ${orderId}`);
}
