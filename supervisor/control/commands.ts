/**
 * The supervisor's control commands, one parser for the REPL, `deno task ctl` and
 * `POST /control`. A command is a word, then arguments validated with zod against the
 * supervisor's current children. Commands live in a {@linkcode CommandRegistry}: later work
 * adds its words (`leader`, `chaos`, `partition`, `heal`, `verify`) and target words such as
 * `leader` (so that `kill leader` works) without touching the parser.
 *
 * @module
 */
import { z } from "zod";
import { errorMessage } from "@trading/shared/retry";
import type { ChildStatus, Supervisor } from "../supervision/supervisor.ts";

/** What argument schemas may look at: the names and target words known right now. */
export interface ParseContext {
  /** The children's names. */
  readonly names: readonly string[];
  /** Registered target words (`leader`), accepted where a command takes a target. */
  readonly targets: readonly string[];
}

/** What a command's handler works with. */
export interface CommandContext {
  readonly supervisor: Supervisor;
  /** Resolves a child name or a target word (`leader`) to a child name. */
  resolveTarget(word: string): Promise<string>;
}

/** One command: its word, usage line, one-line summary, argument schema and handler. */
export interface CommandDefinition<A = unknown> {
  /** The first word: `pause`. */
  readonly name: string;
  /** `pause <name|leader> [ms]`. */
  readonly usage: string;
  readonly summary: string;
  /** Validates the words after the command word (a string array) into `A`. */
  args(context: ParseContext): z.ZodType<A>;
  /** Does it; returns the text to show. Throwing is a failure (`ok: false`), not a usage error. */
  run(args: A, context: CommandContext): string | Promise<string>;
}

/** A target word and how to resolve it to a child name. */
export interface TargetDefinition {
  readonly word: string;
  readonly summary: string;
  resolve(context: CommandContext): Promise<string>;
}

/** A parsed command, ready to run. */
export interface ParsedCommand {
  readonly definition: CommandDefinition;
  readonly args: unknown;
  readonly text: string;
}

/** The outcome of running a command line. */
export interface CommandResult {
  ok: boolean;
  output: string;
  /** True when the line was not a valid command: the output carries the usage. */
  usageError: boolean;
}

/** Argument schemas for command definitions. */
export const arg = {
  /** One of the children's names. */
  name(context: ParseContext): z.ZodType<string, string> {
    return z.string().refine((word) => context.names.includes(word), {
      error: (issue) =>
        `Unknown name "${String(issue.input)}": expected one of ${context.names.join(", ")}`,
    });
  },
  /** A child's name or a registered target word such as `leader`. */
  target(context: ParseContext): z.ZodType<string, string> {
    const words = [...context.names, ...context.targets];
    return z.string().refine((word) => words.includes(word), {
      error: (issue) =>
        `Unknown name "${String(issue.input)}": expected one of ${words.join(", ")}`,
    });
  },
  /** A duration in milliseconds, 1 ms to 1 hour. */
  ms(): z.ZodType<number, string> {
    return z.string().refine((word) => /^\d{1,7}$/.test(word) && +word >= 1 && +word <= 3_600_000, {
      error: (issue) =>
        `Invalid duration "${String(issue.input)}": expected milliseconds 1-3600000`,
    }).transform(Number);
  },
};

/** Splits a command line into words (whitespace-separated; no quoting is needed). */
function words(text: string): string[] {
  return text.trim().split(/\s+/).filter((w) => w !== "");
}

/**
 * The registry of commands and target words, with the one parser.
 *
 * @example
 * ```ts
 * const commands = defaultCommands();
 * commands.registerTarget({ word: "leader", summary: "the Raft leader", resolve: findLeader });
 * const result = await commands.execute("kill leader", supervisor);
 * ```
 */
export class CommandRegistry {
  #commands = new Map<string, CommandDefinition>();
  #targets = new Map<string, TargetDefinition>();

  /**
   * Adds a command. Throws when its word is taken (two modules claiming one word is a bug;
   * {@linkcode CommandRegistry.override} replaces one on purpose). Returns `this`.
   */
  register<A>(definition: CommandDefinition<A>): this {
    if (this.#commands.has(definition.name)) {
      throw new Error(
        `Command "${definition.name}" is registered already: expected a new word, or override()`,
      );
    }
    this.#commands.set(definition.name, definition as CommandDefinition);
    return this;
  }

  /** Replaces the registered command of the same word. Throws when there is none. Returns `this`. */
  override<A>(definition: CommandDefinition<A>): this {
    if (!this.#commands.has(definition.name)) {
      throw new Error(
        `Command "${definition.name}" is not registered: expected one of ${
          this.commandNames.join(", ")
        }`,
      );
    }
    this.#commands.set(definition.name, definition as CommandDefinition);
    return this;
  }

  /** Adds a target word. Throws when the word is taken. Returns `this`. */
  registerTarget(target: TargetDefinition): this {
    if (this.#targets.has(target.word)) {
      throw new Error(`Target word "${target.word}" is registered already: expected a new word`);
    }
    this.#targets.set(target.word, target);
    return this;
  }

  /** The registered command words. */
  get commandNames(): string[] {
    return [...this.#commands.keys()];
  }

  /** The registered target words. */
  get targetWords(): string[] {
    return [...this.#targets.keys()];
  }

  /** The usage text: every command with its summary, and the target words. */
  usage(names?: readonly string[]): string {
    const definitions = [...this.#commands.values()];
    const width = Math.max(...definitions.map((d) => d.usage.length));
    const lines = definitions.map((d) => `  ${d.usage.padEnd(width)}  ${d.summary}`);
    const extra = [];
    if (names && names.length > 0) extra.push(`Names: ${names.join(", ")}`);
    for (const target of this.#targets.values()) {
      extra.push(`Target "${target.word}": ${target.summary}`);
    }
    return ["Commands:", ...lines, ...(extra.length > 0 ? ["", ...extra] : [])].join("\n");
  }

  /**
   * Parses one command line against `context`. Returns the parsed command, or an error
   * message of one sentence followed by the usage.
   */
  parse(text: string, context: ParseContext): ParsedCommand | { error: string } {
    const [word, ...rest] = words(text);
    if (word === undefined) return { error: `Empty command\n\n${this.usage(context.names)}` };
    const definition = this.#commands.get(word);
    if (!definition) {
      return { error: `Unknown command "${word}"\n\n${this.usage(context.names)}` };
    }
    const result = definition.args(context).safeParse(rest);
    if (result.success) return { definition, args: result.data, text };
    const issue = result.error.issues[0]!;
    const arity = issue.path.length === 0 &&
      (issue.code === "too_big" || issue.code === "too_small" || issue.code === "invalid_type");
    const reason = arity ? `Wrong number of arguments for "${word}"` : issue.message;
    return { error: `${reason}\n\nUsage: ${definition.usage}` };
  }

  /** Parses and runs one command line on `supervisor`. Never throws. */
  async execute(text: string, supervisor: Supervisor): Promise<CommandResult> {
    const parsed = this.parse(text, { names: supervisor.names, targets: this.targetWords });
    if ("error" in parsed) return { ok: false, output: parsed.error, usageError: true };
    const context: CommandContext = {
      supervisor,
      resolveTarget: (word) => {
        const target = this.#targets.get(word);
        return target ? target.resolve(context) : Promise.resolve(word);
      },
    };
    try {
      const output = await parsed.definition.run(parsed.args, context);
      return { ok: true, output, usageError: false };
    } catch (error) {
      return { ok: false, output: errorMessage(error), usageError: false };
    }
  }
}

/** Formats `status` output: one row per child. */
export function formatStatusTable(children: readonly ChildStatus[]): string {
  const rows = children.map((c) => [
    c.name,
    c.state,
    c.pid === null ? "-" : String(c.pid),
    String(c.restarts),
    c.uptimeMs === null ? "-" : formatDuration(c.uptimeMs),
    c.health === null ? "-" : c.health.ok ? "ready" : `not ready: ${c.health.detail ?? "?"}`,
    c.lastExit === null ? "-" : c.lastExit.signal ? c.lastExit.signal : `code ${c.lastExit.code}`,
    Object.entries(c.ports).map(([k, v]) => `${k}:${v}`).join(" ") || "-",
  ]);
  const header = ["NAME", "STATE", "PID", "RESTARTS", "UPTIME", "HEALTH", "LAST EXIT", "PORTS"];
  if (rows.length === 0) return "no children";
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows]
    .map((row) => row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
    .map((row) => row.join("  ").trimEnd())
    .join("\n");
}

function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${Math.floor(ms / 1000) % 60}s`;
  return `${Math.floor(ms / 3_600_000)}h${Math.floor(ms / 60_000) % 60}m`;
}

/**
 * A registry with the base words: `status`, `kill`, `pause`, `resume`, `restart`,
 * `shutdown`, `help`.
 */
export function defaultCommands(): CommandRegistry {
  const registry = new CommandRegistry();
  return registry
    .register({
      name: "status",
      usage: "status",
      summary: "every child: state, pid, restarts, uptime, health, last exit, ports",
      args: () => z.tuple([]),
      run: (_args, { supervisor }) => formatStatusTable(supervisor.status()),
    })
    .register({
      name: "kill",
      usage: "kill <name>",
      summary: "SIGKILL a child; its restart policy brings it back",
      args: (context) => z.tuple([arg.target(context)]),
      run: async ([target], context) =>
        context.supervisor.kill(await context.resolveTarget(target)),
    })
    .register({
      name: "pause",
      usage: "pause <name> [ms]",
      summary: "SIGSTOP a child; SIGCONT after ms when given",
      args: (context) => z.tuple([arg.target(context), arg.ms().optional()]),
      run: async ([target, ms], context) =>
        context.supervisor.pause(await context.resolveTarget(target), ms),
    })
    .register({
      name: "resume",
      usage: "resume <name>",
      summary: "SIGCONT a paused child",
      args: (context) => z.tuple([arg.name(context)]),
      run: ([name], { supervisor }) => supervisor.resume(name),
    })
    .register({
      name: "restart",
      usage: "restart <name>",
      summary: "stop a child gracefully and start it again, backoff reset",
      args: (context) => z.tuple([arg.name(context)]),
      run: ([name], { supervisor }) => supervisor.restart(name),
    })
    .register({
      name: "shutdown",
      usage: "shutdown",
      summary: "stop every child in reverse dependency order, then the supervisor",
      args: () => z.tuple([]),
      run: (_args, { supervisor }) => {
        // Answer first: the control API must be able to reply before it closes.
        setTimeout(() => void supervisor.shutdown("shutdown command"), 0);
        return "shutting down";
      },
    })
    .register({
      name: "help",
      usage: "help",
      summary: "this list",
      args: () => z.tuple([]),
      run: (_args, { supervisor }) => registry.usage(supervisor.names),
    });
}
