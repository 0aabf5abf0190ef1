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
import { errorMessage, sleep } from "@trading/shared/retry";
import { nowUs } from "@trading/shared/now-us";
import type { Logger } from "@trading/shared/log";
import { histogram } from "@trading/shared/metrics";
import { checkRisk, type RiskLimits } from "./risk_checks.ts";

const applySeconds = histogram(
  "raft_apply_seconds",
  "Time to record one order through Raft (retries included)",
);

/** The part of `RaftClient` (shared/raft_client.ts) the recorder uses. */
export interface RaftApplier {
  apply(request: ApplyRequest): Promise<ApplyResponse>;
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
    const { limits } = this.#o;
    const outcome = checkRisk(command, referencePrice, limits);
    const request = ApplyRequest.fromPartial({
      orderId: command.orderId,
      payload: canonicalCommandBytes(command),
      outcome,
      symbol: command.symbol,
      positionDelta: command.side === Side.SIDE_BUY ? command.quantity : -command.quantity,
      maxPosition: limits.maxPosition,
    });
    const started = performance.now();
    const response = await this.#apply(request, onWait);
    applySeconds.observe((performance.now() - started) / 1000);
    const stored = response.outcome ?? outcome;
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

  async #apply(request: ApplyRequest, onWait?: () => Promise<void>): Promise<ApplyResponse> {
    for (let attempt = 1;; attempt++) {
      this.#o.signal.throwIfAborted();
      try {
        const response = await this.#o.raft.apply(request);
        if (
          response.result === ApplyResult.APPLY_RESULT_APPLIED ||
          response.result === ApplyResult.APPLY_RESULT_DUPLICATE ||
          response.result === ApplyResult.APPLY_RESULT_CONFLICT
        ) {
          return response;
        }
        throw new Error(`Unexpected Apply result ${response.result} for ${request.orderId}`);
      } catch (error) {
        this.#o.signal.throwIfAborted();
        // The client already retried with backoff (and read after uncertain attempts); the
        // cluster is down or electing. Keep trying: the command must get its outcome.
        if (attempt === 1 || attempt % 10 === 0) {
          this.#o.log.warn("Raft Apply of {orderId} failed (attempt {attempt}): {error}", {
            orderId: request.orderId,
            attempt,
            error: errorMessage(error),
          });
        }
        // Between retries, e.g. a consumer heartbeat so that the group keeps the member.
        await onWait?.();
        await sleep(Math.min(1000, 100 * attempt), this.#o.signal);
      }
    }
  }
}
