/**
 * What Linux's `/proc/<pid>/stat` says about a process: its run state (`T` when stopped by
 * SIGSTOP) and its start time, which tells a live child from a reused pid.
 *
 * @module
 */

/** The fields of `/proc/<pid>/stat` the supervisor relies on. */
export interface ProcessInfo {
  pid: number;
  /** One letter: R running, S sleeping, T stopped, Z zombie, and so on (proc(5)). */
  state: string;
  ppid: number;
  /** Process group id. */
  pgrp: number;
  /** Start time in clock ticks after boot: the same pid with another start time is another process. */
  startTime: string;
}

/**
 * Reads `/proc/<pid>/stat`; returns `undefined` when the process does not exist (or this is
 * not Linux).
 */
export function readProcessInfo(pid: number): ProcessInfo | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself contain spaces or ")":
  // everything after the last ")" is space-separated (proc(5)).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).trim().split(" ");
  const [state, ppid, pgrp] = fields;
  const startTime = fields[19];
  if (state === undefined || ppid === undefined || pgrp === undefined || !startTime) {
    return undefined;
  }
  return { pid, state, ppid: Number(ppid), pgrp: Number(pgrp), startTime };
}

/**
 * True while `pid` is a live process (a zombie, which has exited and only waits to be reaped,
 * counts as gone). With `startTime`, also requires that it is the same process.
 */
export function isAlive(pid: number, startTime?: string): boolean {
  const info = readProcessInfo(pid);
  if (!info || info.state === "Z" || info.state === "X") return false;
  return startTime === undefined || info.startTime === startTime;
}
