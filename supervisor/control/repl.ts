/**
 * The REPL on the supervisor's terminal: one command per line, the same words as
 * `deno task ctl` and `POST /control`.
 *
 * @module
 */
import type { CommandRegistry } from "./commands.ts";
import { readLines } from "../supervision/read_lines.ts";
import type { Supervisor } from "../supervision/supervisor.ts";

/** Options of {@linkcode runRepl}. */
export interface ReplOptions {
  /** Lines typed by the user; default stdin. */
  input?: ReadableStream<Uint8Array>;
  /** Where answers go; default stdout. */
  write?: (text: string) => void;
  prompt?: string;
}

/**
 * Reads command lines until EOF or shutdown, runs each through `commands` and prints the
 * answer. Resolves when the input ends or the supervisor shuts down.
 */
export async function runRepl(
  commands: CommandRegistry,
  supervisor: Supervisor,
  options: ReplOptions = {},
): Promise<void> {
  const encoder = new TextEncoder();
  const write = options.write ?? ((text: string) => {
    try {
      Deno.stdout.writeSync(encoder.encode(text));
    } catch { /* terminal gone */ }
  });
  const prompt = options.prompt ?? "supervisor> ";
  write(`Type a command (help lists them). Ctrl-C stops the pipeline.\n${prompt}`);
  for await (const line of readLines(options.input ?? Deno.stdin.readable)) {
    if (supervisor.shuttingDown) break;
    if (line.trim() !== "") {
      const result = await commands.execute(line, supervisor);
      write(`${result.output}\n`);
    }
    if (supervisor.shuttingDown) break;
    write(prompt);
  }
}
