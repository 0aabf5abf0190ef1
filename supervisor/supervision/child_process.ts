/**
 * One running child process: spawned in its own session (so a Ctrl-C on the supervisor's
 * terminal reaches only the supervisor, which then stops children in order), with stdin
 * piped and never written (the child exits when it reaches EOF: shared/runtime/shutdown.ts), and
 * stdout/stderr read line by line.
 *
 * @module
 */
import { SUPERVISED_ENV } from "@trading/shared/shutdown";
import type { ChildSpec } from "./child_spec.ts";
import { readProcessInfo } from "./process_info.ts";
import { readLines } from "./read_lines.ts";
import type { ExitStatus } from "./restart_policy.ts";

/** A started child process. */
export interface ChildProcessHandle {
  readonly pid: number;
  /** From /proc: tells this process from a later one that reuses the pid. */
  readonly startTime: string | undefined;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitStatus>;
  /** Resolves when the process has exited and its output has been read to the end. */
  readonly closed: Promise<void>;
  /** True once `exited` has resolved. */
  readonly hasExited: boolean;
  /**
   * Sends `signal` to the child's process group (the child and anything it started), or to
   * the child alone if that fails. Returns false when the process is gone.
   */
  signal(signal: Deno.Signal): boolean;
}

/**
 * Starts `spec`'s command. Each line the child prints goes to `onLine`. Throws when the
 * executable cannot be started.
 */
export function spawnChild(
  spec: Pick<ChildSpec, "command" | "env" | "cwd">,
  onLine: (stream: "stdout" | "stderr", line: string) => void,
): ChildProcessHandle {
  const process = new Deno.Command(spec.command.executable, {
    args: spec.command.args,
    ...(spec.cwd ? { cwd: spec.cwd } : {}),
    env: { ...spec.env, [SUPERVISED_ENV]: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    // A new session: no controlling terminal, so the terminal's SIGINT does not reach the
    // child directly (setsid(2)); the supervisor decides the order of shutdown.
    detached: true,
  }).spawn();
  const pid = process.pid;
  const startTime = readProcessInfo(pid)?.startTime;
  let hasExited = false;

  const pump = async (stream: "stdout" | "stderr", readable: ReadableStream<Uint8Array>) => {
    try {
      for await (const line of readLines(readable)) onLine(stream, line);
    } catch { /* the pipe broke: the process is gone */ }
  };
  const pumps = Promise.all([pump("stdout", process.stdout), pump("stderr", process.stderr)]);
  const exited = process.status.then((status): ExitStatus => {
    hasExited = true;
    return { code: status.code, signal: status.signal ?? null };
  });
  const closed = (async () => {
    await exited;
    // Our end of the child's stdin: close it so the pipe is not leaked.
    await process.stdin.close().catch(() => {});
    await pumps;
  })();

  return {
    pid,
    startTime,
    exited,
    closed,
    get hasExited() {
      return hasExited;
    },
    signal(signal: Deno.Signal): boolean {
      if (hasExited) return false;
      try {
        Deno.kill(-pid, signal);
        return true;
      } catch {
        try {
          process.kill(signal);
          return true;
        } catch {
          return false;
        }
      }
    },
  };
}
