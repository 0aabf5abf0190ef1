/**
 * The start-up of a service that depends on others (Kafka, Raft): retried with backoff until
 * it succeeds or the service is shut down, a failure that is not a shutdown ends the process
 * with exit code 1, and so does a consumer crash kafkajs will not recover from (the
 * supervisor restarts the process). Every Kafka service's main follows this; the broker and
 * the raft-node, which depend on nothing, start once.
 *
 * @example
 * ```ts
 * const service = await startService({ name: "stream-processor", ... });
 * return await runStartUp(service, async () => {
 *   running = await retryStartUp(service, () => StreamProcessor.start({ ..., onFatal: exitOnFatal(service) }));
 * });
 * ```
 *
 * @module
 */
import { errorMessage, retry } from "./retry.ts";
import type { Service } from "./service.ts";

/**
 * Runs `start`, then waits for the service's shutdown; returns the process's exit code. When
 * `start` throws before shutdown began, logs `<name> failed to start`, shuts down and
 * returns 1; when shutdown began meanwhile (it aborts {@linkcode retryStartUp}), returns the
 * shutdown's exit code.
 */
export async function runStartUp(service: Service, start: () => Promise<void>): Promise<number> {
  try {
    await start();
  } catch (error) {
    if (!service.shutdown.started) {
      service.log.error("{service} failed to start: {error}", {
        service: service.name,
        error: errorMessage(error),
      });
      await service.shutdown.trigger("start-up failed");
      return 1;
    }
  }
  return await service.shutdown.done;
}

/**
 * Calls `attempt` until it succeeds, with backoff from 200 ms to 3 s between attempts (a
 * broker or a Raft leader may come later than this service), logging every failure. Rejects
 * only when the service is shut down meanwhile.
 */
export function retryStartUp<T>(service: Service, attempt: () => Promise<T>): Promise<T> {
  return retry(attempt, {
    maxAttempts: Infinity,
    initialDelayMs: 200,
    maxDelayMs: 3000,
    signal: service.shutdown.signal,
    onRetry: (error, attempt) =>
      service.log.warn("start-up failed (attempt {attempt}), retrying: {error}", {
        attempt,
        error: errorMessage(error),
      }),
  });
}

/**
 * Returns the `onFatal` handler of a consumer kafkajs will not restart: logs the error, shuts
 * the service down and exits with code 1, so that the supervisor restarts the process.
 */
export function exitOnFatal(service: Service): (error: unknown) => void {
  return (error) => {
    service.log.error("consumer stopped for good: {error}", { error: errorMessage(error) });
    void service.shutdown.trigger("consumer crashed").then(() => Deno.exit(1));
  };
}
