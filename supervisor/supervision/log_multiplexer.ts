/**
 * One output for the lines of every child and of the supervisor itself. On a terminal each
 * line gets a padded, coloured name prefix (`raft-1          | ...`) and JSON log lines are
 * rendered readably; when piped, JSON lines pass through unchanged (they already carry
 * `service`) and any other line is wrapped as a JSON log line, so the output stays JSON lines.
 *
 * @module
 */

/** Options of {@linkcode LogMultiplexer}. */
export interface LogMultiplexerOptions {
  /** Render for a person (a terminal) rather than for a machine (a pipe or file). */
  pretty: boolean;
  /** ANSI colours; default: when `pretty` and `NO_COLOR` is unset. */
  color?: boolean;
  /** Width of the name column; default 16, or the longest name registered. */
  width?: number;
  /** Where text goes; default a synchronous write to stdout, so lines never interleave. */
  write?: (text: string) => void;
}

const COLORS = [36, 33, 32, 35, 34, 91, 92, 93, 94, 95, 96];
const LEVEL_COLORS: Record<string, number> = { debug: 90, info: 32, warn: 33, error: 31 };
const encoder = new TextEncoder();

function writeStdout(text: string): void {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) {
    try {
      written += Deno.stdout.writeSync(bytes.subarray(written));
    } catch {
      return; // stdout closed: nobody is reading, drop the line.
    }
  }
}

function isJsonObjectLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? value as Record<string, unknown>
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Multiplexes child output onto one stream.
 *
 * @example
 * ```ts
 * const output = new LogMultiplexer({ pretty: Deno.stdout.isTerminal() });
 * output.line("raft-1", "stdout", '{"level":"info","message":"became leader"}');
 * ```
 */
export class LogMultiplexer {
  readonly pretty: boolean;
  #color: boolean;
  #width: number;
  #write: (text: string) => void;
  #colorOf = new Map<string, number>();

  constructor(options: LogMultiplexerOptions) {
    this.pretty = options.pretty;
    this.#color = options.color ?? (options.pretty && Deno.env.get("NO_COLOR") === undefined);
    this.#width = options.width ?? 16;
    this.#write = options.write ?? writeStdout;
  }

  /** Reserves a colour and column width for `name`, so the columns line up from the start. */
  register(name: string): void {
    if (!this.#colorOf.has(name)) {
      this.#colorOf.set(name, COLORS[this.#colorOf.size % COLORS.length]!);
    }
    this.#width = Math.max(this.#width, name.length);
  }

  /** Writes one line that `source` printed on `stream`. Blank lines are dropped. */
  line(source: string, stream: "stdout" | "stderr", line: string): void {
    if (line.trim() === "") return;
    const json = isJsonObjectLine(line);
    if (!this.pretty) {
      this.#write(
        (json ? line : JSON.stringify({
          time: new Date().toISOString(),
          level: stream === "stderr" ? "warn" : "info",
          service: source,
          category: stream,
          message: line,
        })) + "\n",
      );
      return;
    }
    this.register(source);
    const prefix = this.#paint(this.#colorOf.get(source)!, source.padEnd(this.#width) + " |");
    this.#write(`${prefix} ${json ? this.#render(json) : line}\n`);
  }

  /** `12:00:00.123 INFO  raft  became leader term=3` from a JSON log line. */
  #render(json: Record<string, unknown>): string {
    const time = typeof json.time === "string" ? json.time.slice(11, 23) : "";
    const level = String(json.level ?? "info");
    const parts = [
      this.#paint(90, time),
      this.#paint(LEVEL_COLORS[level] ?? 0, level.toUpperCase().padEnd(5)),
    ];
    if (typeof json.category === "string" && json.category !== "") {
      parts.push(this.#paint(90, json.category));
    }
    const message = String(json.message ?? "");
    parts.push(message);
    const fields = json.fields;
    if (typeof fields === "object" && fields !== null) {
      // LogTape keeps a template's values as fields too: a person needs each only once.
      const rendered = Object.entries(fields).flatMap(([key, value]) => {
        const text = typeof value === "string" ? value : JSON.stringify(value);
        const shown = key === "event" || key === "service" || value === null ||
          (typeof value !== "object" && text !== "" && message.includes(text));
        return shown ? [] : [`${key}=${text}`];
      });
      if (rendered.length > 0) parts.push(this.#paint(90, rendered.join(" ")));
    }
    return parts.filter((p) => p !== "").join(" ");
  }

  #paint(code: number, text: string): string {
    return this.#color && code !== 0 ? `\x1b[${code}m${text}\x1b[0m` : text;
  }
}
