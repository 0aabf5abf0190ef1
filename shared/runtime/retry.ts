/**
 * The one retry helper: exponential backoff with full jitter, a maximum number of attempts
 * and an abort signal.
 *
 * @module
 */

/** Options of {@linkcode retry} and {@linkcode backoffDelay}. */
export interface RetryOptions {
  /** Attempts in total, the first included. Default 5. `Infinity` retries until aborted. */
  maxAttempts?: number;
  /** Delay before the second attempt, in ms. Default 50. */
  initialDelayMs?: number;
  /** Upper bound of any delay, in ms. Default 5000. */
  maxDelayMs?: number;
  /** Growth factor per attempt. Default 2. */
  multiplier?: number;
  /** Fraction of the delay that is randomized, 0 (none) to 1 (full jitter). Default 1. */
  jitter?: number;
  /** Stops retrying (and the wait between attempts) when aborted. */
  signal?: AbortSignal;
  /** Decides whether an error is worth another attempt. Default: every error. */
  shouldRetry?: (error: unknown, attempt: number) => boolean;
  /**
   * Called before each wait (for logging, or work that must happen between attempts, such as
   * a consumer heartbeat); awaited. An error it throws ends the retrying with that error.
   */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void | Promise<void>;
  /** Source of randomness in [0, 1), injectable for deterministic tests. */
  random?: () => number;
}

/** Thrown by {@linkcode retry} when every attempt failed; `cause` is the last error. */
export class RetryError extends Error {
  /** The number of attempts made. */
  readonly attempts: number;
  constructor(attempts: number, cause: unknown) {
    super(`Gave up after ${attempts} attempts: ${errorMessage(cause)}`, { cause });
    this.name = "RetryError";
    this.attempts = attempts;
  }
}

/** Returns an error's message, or the value as a string when it is not an Error. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Returns the delay before attempt `attempt + 1` (attempt counts from 1): exponential in the
 * attempt, capped at `maxDelayMs`, with `jitter` of it randomized.
 */
export function backoffDelay(attempt: number, options: RetryOptions = {}): number {
  const initial = options.initialDelayMs ?? 50;
  const max = options.maxDelayMs ?? 5000;
  const multiplier = options.multiplier ?? 2;
  const jitter = options.jitter ?? 1;
  const random = options.random ?? Math.random;
  const base = Math.min(max, initial * multiplier ** Math.max(0, attempt - 1));
  return Math.round(base * (1 - jitter) + base * jitter * random());
}

/**
 * Resolves after `ms`, or rejects with the signal's reason when it is aborted first.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Calls `fn` until it succeeds, waiting with exponential backoff and jitter between attempts.
 * Returns its result; throws {@linkcode RetryError} after `maxAttempts` failures, the error
 * itself when `shouldRetry` says no, or the signal's reason when aborted.
 *
 * @example
 * ```ts
 * const leader = await retry(() => client.leader(), { maxAttempts: 10, signal });
 * ```
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 5;
  for (let attempt = 1;; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (options.shouldRetry && !options.shouldRetry(error, attempt)) throw error;
      if (attempt >= maxAttempts) throw new RetryError(attempt, error);
      const delay = backoffDelay(attempt, options);
      await options.onRetry?.(error, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}
