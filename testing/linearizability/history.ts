/**
 * The history format of the linearizability checker: one record per client operation
 * against the order de-duplication store (Apply or linearizable Read of one order id).
 *
 * @module
 */

/** An order outcome as the store returns it (`status` is the proto `OrderStatus` number). */
export interface HistoryOutcome {
  readonly status: number;
  readonly reason: string;
}

/** What an Apply sent. */
export interface ApplyInput {
  /** The payload hash as hex (any stable string works: only equality matters). */
  readonly payloadHash: string;
  /** The outcome the client asked to store. */
  readonly outcome: HistoryOutcome;
  /**
   * True when the store may replace an accepted outcome with the rejection
   * `{status: REJECTED, reason: "max_position"}` (the request had max_position > 0). Such
   * an Apply depends on other orders of its symbol, which a per-order-id check cannot see,
   * so either outcome is accepted for it.
   */
  readonly positionChecked?: boolean;
}

/** What an Apply returned. */
export interface ApplyOutput {
  readonly result: "applied" | "duplicate" | "conflict";
  readonly outcome: HistoryOutcome;
}

/** What a linearizable Read returned. */
export type ReadOutput =
  | { readonly found: false }
  | {
    readonly found: true;
    readonly outcome: HistoryOutcome;
    /** When given, checked against the stored payload hash. */
    readonly payloadHash?: string;
  };

/** Fields every operation has. */
interface OperationBase {
  /** Who issued it (informational; only real time orders operations). */
  readonly clientId: string | number;
  readonly orderId: string;
  /** When the call was issued (any monotonic clock shared by all clients). */
  readonly call: number;
  /**
   * When the result arrived; omitted when the operation timed out or its result is unknown.
   * An open operation may take effect at any time after its call, or never.
   */
  readonly return?: number;
}

/**
 * One operation of a history. An Apply without `return`/`output` is "possibly applied".
 * Operations known to have had no effect (a "not leader" answer, a refused proposal) should
 * be left out. A Read without a result can be left out too (it has no effect).
 */
export type Operation =
  | OperationBase & {
    readonly op: "apply";
    readonly input: ApplyInput;
    readonly output?: ApplyOutput;
  }
  | OperationBase & {
    readonly op: "read";
    readonly input?: Record<string, never>;
    readonly output?: ReadOutput;
  };

/** An order history: operations in any order. */
export type History = readonly Operation[];
