/**
 * Test helper: one role of main.ts as a child process (`deno run -A main.ts <role>`) with
 * its own environment and a free HTTP port; waits for `/readyz`, kills with any signal, and
 * keeps its output. {@linkcode RoleProcess.run} runs a role to its end instead (exit codes,
 * config errors, `verify`, `ctl`). Test and benchmark code only.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { freePort } from "./free_port.ts";
import { waitFor } from "./wait_for.ts";
import { SpawnedProcess } from "./spawned_process.ts";
import { MAIN_MODULE_URL } from "@trading/supervisor/self-command";

const MAIN = fileURLToPath(MAIN_MODULE_URL);

/** What a role that ran to its end returned and printed. */
export interface RoleRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** A running (or ended) role process. */
export class RoleProcess implements AsyncDisposable {
  readonly role: string;
  readonly httpPort: number;
  /** Every line it printed so far, stdout and stderr interleaved. */
  readonly output: string[];
  #process: SpawnedProcess;

  private constructor(role: string, httpPort: number, process: SpawnedProcess) {
    this.role = role;
    this.httpPort = httpPort;
    this.#process = process;
    this.output = process.output;
  }

  /**
   * Starts `role` with `env` (PORT_HTTP is chosen unless given); `denoArgs` go before the
   * script (e.g. `["--cpu-prof", "--cpu-prof-dir=/tmp/p"]` to profile it).
   */
  static spawn(
    role: string,
    env: Record<string, string>,
    { echo = false, denoArgs = [] }: { echo?: boolean; denoArgs?: string[] } = {},
  ): RoleProcess {
    const httpPort = Number(env.PORT_HTTP ?? freePort());
    const process = SpawnedProcess.spawn(
      Deno.execPath(),
      ["run", "-A", "--frozen", ...denoArgs, MAIN, role],
      {
        env: { LOG_LEVEL: "info", TRADING_SUPERVISED: "", ...env, PORT_HTTP: String(httpPort) },
        ...(echo ? { echo: role } : {}),
      },
    );
    return new RoleProcess(role, httpPort, process);
  }

  /** Runs `main.ts <role> ...args` with `env` added to this process's to its end. */
  static async run(
    role: string,
    args: readonly string[] = [],
    env: Record<string, string> = {},
  ): Promise<RoleRun> {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--frozen", MAIN, role, ...args],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  }

  /** The process id. */
  get pid(): number {
    return this.#process.pid;
  }

  /** Resolves with the exit code once the process ended and its output is read. */
  async exited(): Promise<number> {
    return (await this.#process.exited()).code;
  }

  /** Waits until `/readyz` answers 200. */
  async ready(timeoutMs = 30_000): Promise<void> {
    let ended = false;
    void this.#process.status.then(() => (ended = true));
    await waitFor(`${this.role} ready`, async () => {
      if (ended) throw new Error(`${this.role} exited:\n${this.tail()}`);
      const response = await fetch(`http://127.0.0.1:${this.httpPort}/readyz`);
      await response.body?.cancel();
      return response.status === 200;
    }, { timeoutMs, intervalMs: 100 }).catch((error) => {
      throw new Error(`${error.message}\n${this.tail()}`);
    });
  }

  /** The value of the metric line starting with `prefix` in `/metrics` (summed over matches). */
  async metric(prefix: string): Promise<number> {
    const response = await fetch(`http://127.0.0.1:${this.httpPort}/metrics`);
    const text = await response.text();
    return text.split("\n").filter((l) => l.startsWith(prefix)).reduce(
      (sum, line) => sum + Number(line.split(" ").at(-1)),
      0,
    );
  }

  /** Sends `signal` (ignored when it already ended). */
  kill(signal: Deno.Signal = "SIGKILL"): void {
    this.#process.kill(signal);
  }

  /** The last lines of output. */
  tail(lines = 40): string {
    return this.output.slice(-lines).map((l) => l.slice(0, 400)).join("\n");
  }

  /** SIGKILLs the process if it still runs and waits for it. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.kill("SIGKILL");
    await this.exited();
  }
}
