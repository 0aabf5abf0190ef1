/**
 * The `supervisor-watchdog` role: a tiny process beside the supervisor that kills every
 * child still alive once the supervisor is gone, even by SIGKILL. Children normally exit by
 * themselves when their stdin reaches EOF (shared/runtime/shutdown.ts), but a child stopped with
 * SIGSTOP cannot run any code; the watchdog sends it SIGCONT and SIGKILL.
 *
 * Protocol: the supervisor writes one JSON line per change to the watchdog's stdin,
 * `{"children":[{"pid":123,"startTime":"4567"}]}`, the full list each time. EOF on stdin means
 * the supervisor is gone.
 *
 * @module
 */
import { z } from "zod";
import { loadConfig, oneOf } from "@trading/shared/config";
import { getLogger, setupLogging } from "@trading/shared/log";
import { sleep } from "@trading/shared/retry";
import { isAlive, readProcessInfo } from "./process_info.ts";
import { readLines } from "./read_lines.ts";

/** A process the watchdog looks after. */
export interface WatchedProcess {
  pid: number;
  /** From /proc at spawn time; a pid with another start time was reused and is spared. */
  startTime?: string | undefined;
}

const WatchListSchema = z.object({
  children: z.array(z.object({
    pid: z.number().int().positive(),
    startTime: z.string().optional(),
  })),
});

/** Formats the line the supervisor writes to tell the watchdog its current children. */
export function watchListLine(children: readonly WatchedProcess[]): string {
  return JSON.stringify({
    children: children.map(({ pid, startTime }) => startTime ? { pid, startTime } : { pid }),
  }) + "\n";
}

/**
 * Kills every process of `processes` that is still alive and still the same process (same
 * start time): SIGCONT (a stopped process), then SIGKILL to its process group when it leads
 * one (our children do: they run in their own session), else to the pid. Waits up to
 * `waitMs` for them to be gone and returns the pids it killed.
 */
export async function killOrphans(
  processes: readonly WatchedProcess[],
  { waitMs = 3000 }: { waitMs?: number } = {},
): Promise<number[]> {
  const killed: number[] = [];
  for (const { pid, startTime } of processes) {
    if (!isAlive(pid, startTime)) continue;
    const target = readProcessInfo(pid)?.pgrp === pid ? -pid : pid;
    for (const signal of ["SIGCONT", "SIGKILL"] as const) {
      try {
        Deno.kill(target, signal);
      } catch { /* already gone */ }
    }
    killed.push(pid);
  }
  const deadline = Date.now() + waitMs;
  while (killed.some((pid) => isAlive(pid)) && Date.now() < deadline) await sleep(20);
  return killed;
}

/** The role's entry: watches stdin until EOF, then kills the orphans. Returns 0. */
export async function main(_args: string[]): Promise<number> {
  const config = loadConfig({ LOG_LEVEL: oneOf(["debug", "info", "warn", "error"], "info") });
  await setupLogging("supervisor-watchdog", config.LOG_LEVEL);
  const log = getLogger("watchdog");
  // The terminal's Ctrl-C or a stray SIGTERM must not take the watchdog down before the
  // children it guards: it leaves only when the supervisor does (EOF).
  const ignore = () => {};
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const signal of signals) Deno.addSignalListener(signal, ignore);

  let children: WatchedProcess[] = [];
  try {
    for await (const line of readLines(Deno.stdin.readable)) {
      try {
        children = WatchListSchema.parse(JSON.parse(line)).children;
      } catch {
        log.warn("ignored a malformed watch list line: {line}", { line });
      }
    }
  } catch { /* stdin broke: the supervisor is gone */ }

  const killed = await killOrphans(children);
  if (killed.length > 0) {
    log.warn("supervisor went away: killed {count} orphaned children", {
      count: killed.length,
      pids: killed,
    });
  }
  for (const signal of signals) Deno.removeSignalListener(signal, ignore);
  return 0;
}
