/**
 * Polling with a deadline: tests await an event, with a generous deadline that only catches
 * hangs (no test asserts a wall-clock bound).
 *
 * @module
 */

/**
 * Polls `check` every `intervalMs` until it returns a value other than `undefined`, `false`
 * or `null`, and returns that value. Throws naming `what` after `timeoutMs`.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  { timeoutMs = 10_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  const suffix = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${suffix}`);
}

/**
 * Awaits `promise`, throwing naming `what` when it has not settled after `timeoutMs`: a
 * deadline that only catches hangs, for one awaited event (an exit, a shutdown).
 */
export async function settlesWithin<T>(
  what: string,
  promise: Promise<T>,
  timeoutMs = 60_000,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}
