/**
 * The pipeline's clock for message timestamps: epoch microseconds with sub-millisecond
 * resolution (`Date.now()` has only milliseconds, too coarse for a 1 ms latency budget).
 *
 * @module
 */

/** Returns the current time in epoch microseconds. */
export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}
