/**
 * Deterministic order ids: the same (strategy, symbol, tick sequence) always gives the same
 * id, so re-processing ticks after a crash re-emits the same ids and the executor's Raft
 * de-duplication recognises them. Never random.
 *
 * @module
 */

/**
 * Returns the id of the order `strategyId` made on tick `sequence` of `symbol`:
 * `<strategy>-<symbol>-<sequence>` (a strategy makes at most one order per tick).
 *
 * @example
 * ```ts
 * orderIdFor("mac", "AAPL", 42); // "mac-AAPL-42"
 * ```
 */
export function orderIdFor(strategyId: string, symbol: string, sequence: number): string {
  if (!/^[A-Za-z0-9_]+$/.test(strategyId)) {
    throw new Error(`Invalid strategy id "${strategyId}": expected letters, digits or _`);
  }
  if (!Number.isSafeInteger(sequence) || sequence < 1) {
    throw new Error(`Invalid tick sequence ${sequence}: expected an integer >= 1`);
  }
  return `${strategyId}-${symbol}-${sequence}`;
}
