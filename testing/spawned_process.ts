/**
 * The one way tests spawn a process and keep what it prints: a child with piped stdout and
 * stderr, both read into {@linkcode SpawnedProcess.output} as lines (interleaved, in arrival
 * order), optionally echoed with a name prefix. {@linkcode RoleProcess} and the tests that
 * run `main.ts up` build on it.
 *
 * @example
 * ```ts
 * await using child = SpawnedProcess.spawn(Deno.execPath(), ["run", "-A", "main.ts", "up"]);
 * // ... on failure: child.text()
 * ```
 *
 * @module
 */
import { readLines } from "@trading/supervisor/read-lines";

/** Options of {@linkcode SpawnedProcess.spawn}. */
export interface SpawnOptions {
  /** Environment added to this process's. */
  env?: Record<string, string>;
  cwd?: string;
  /** `null` (default) or `piped` (then {@linkcode SpawnedProcess.child}`.stdin` is writable). */
  stdin?: "null" | "piped";
  /** Echo every line to stderr, prefixed with `[echo]`. */
  echo?: string;
  /** Append the lines to this array (kept across restarts, say) instead of a new one. */
  output?: string[];
}

/** A running (or ended) child process whose output is being collected. */
export class SpawnedProcess implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  /** Every line it printed so far, stdout and stderr interleaved. */
  readonly output: string[];
  readonly #pumps: Promise<unknown>;

  private constructor(child: Deno.ChildProcess, echo: string | undefined, output: string[]) {
    this.child = child;
    this.output = output;
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      for await (const line of readLines(stream)) {
        this.output.push(line);
        if (echo !== undefined) console.error(`[${echo}] ${line.slice(0, 300)}`);
      }
    };
    this.#pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  }

  /** Starts `executable` with `args`, its stdout and stderr collected. */
  static spawn(
    executable: string,
    args: readonly string[],
    { env = {}, cwd, stdin = "null", echo, output = [] }: SpawnOptions = {},
  ): SpawnedProcess {
    const child = new Deno.Command(executable, {
      args: [...args],
      env,
      ...(cwd === undefined ? {} : { cwd }),
      stdin,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new SpawnedProcess(child, echo, output);
  }

  /** The process id. */
  get pid(): number {
    return this.child.pid;
  }

  /** Resolves with the exit status once the process ended. */
  get status(): Promise<Deno.CommandStatus> {
    return this.child.status;
  }

  /** Resolves with the exit status once the process ended and all its output is read. */
  async exited(): Promise<Deno.CommandStatus> {
    const status = await this.child.status;
    await this.#pumps;
    return status;
  }

  /** Sends `signal` (ignored when it already ended). */
  kill(signal: Deno.Signal = "SIGKILL"): void {
    try {
      this.child.kill(signal);
    } catch { /* already ended */ }
  }

  /** Its output so far as text, the last `chars` characters of it when given. */
  text(chars = Infinity): string {
    const text = this.output.join("\n");
    return chars === Infinity ? text : text.slice(-chars);
  }

  /** SIGKILLs the process if it still runs and waits for it and its output. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.kill("SIGKILL");
    await this.exited();
  }
}
