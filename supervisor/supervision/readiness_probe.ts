/**
 * One readiness probe of a child: an HTTP GET that must answer 200, or a TCP connect that
 * must be accepted, always on 127.0.0.1 and bounded in time.
 *
 * @module
 */
import { errorMessage } from "@trading/shared/retry";
import type { ReadinessProbe } from "./child_spec.ts";

/** The outcome of a probe: ready, or why not. */
export type ProbeResult = { ok: true } | { ok: false; detail: string };

/**
 * Runs `probe` once and returns whether the child is ready. Never throws: a refused
 * connection, a timeout or a non-200 answer is a `{ ok: false }` with the reason.
 */
export async function probeReadiness(
  probe: ReadinessProbe,
  { timeoutMs = 1000, signal }: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<ProbeResult> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const bounded = signal ? AbortSignal.any([signal, timeout]) : timeout;
  try {
    switch (probe.kind) {
      case "none":
        return { ok: true };
      case "http": {
        const response = await fetch(`http://127.0.0.1:${probe.port}${probe.path}`, {
          signal: bounded,
        });
        await response.body?.cancel();
        return response.status === 200
          ? { ok: true }
          : { ok: false, detail: `${probe.path} answered ${response.status}` };
      }
      case "tcp": {
        const connection = await Deno.connect({
          hostname: "127.0.0.1",
          port: probe.port,
          signal: bounded,
        });
        connection.close();
        return { ok: true };
      }
    }
  } catch (error) {
    if (timeout.aborted) return { ok: false, detail: `no answer within ${timeoutMs} ms` };
    const message = errorMessage(error);
    return {
      ok: false,
      detail: /refused/i.test(message)
        ? `connection refused on port ${"port" in probe ? probe.port : "?"}`
        : message,
    };
  }
}
