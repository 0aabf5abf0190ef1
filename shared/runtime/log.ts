/**
 * One logger setup for every process: LogTape writing JSON lines to stdout with the fields
 * `time`, `level`, `service`, `category`, `message` and `fields`.
 *
 * @module
 */
import {
  configure,
  getLogger as getLogTapeLogger,
  type Logger,
  type LogLevel as LogTapeLevel,
  type LogRecord,
  reset,
  type Sink,
} from "@logtape/logtape";

export type { Logger };

/** The levels accepted by `LOG_LEVEL`. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const LEVEL_NAMES: Record<LogTapeLevel, string> = {
  trace: "trace",
  debug: "debug",
  info: "info",
  warning: "warn",
  error: "error",
  fatal: "fatal",
};

const TO_LOGTAPE: Record<LogLevel, LogTapeLevel> = {
  debug: "debug",
  info: "info",
  warn: "warning",
  error: "error",
};

/** The root category under which every logger of the project lives. */
export const ROOT_CATEGORY = "trading";

const encoder = new TextEncoder();

function renderMessage(record: LogRecord): string {
  let out = "";
  for (const part of record.message) {
    out += typeof part === "string"
      ? part
      : typeof part === "object"
      ? safeJson(part)
      : String(part);
  }
  return out;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, jsonReplacer);
  } catch {
    return String(value);
  }
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) {
    return { name: value.name, message: value.message, stack: value.stack };
  }
  if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
  return value;
}

/** Formats one record as a JSON line (no trailing newline). */
export function formatJsonLine(service: string, record: LogRecord): string {
  const line: Record<string, unknown> = {
    time: new Date(record.timestamp).toISOString(),
    level: LEVEL_NAMES[record.level],
    service,
    category: record.category.slice(1).join(".") || record.category.join("."),
    message: renderMessage(record),
  };
  if (Object.keys(record.properties).length > 0) line.fields = record.properties;
  return safeJson(line);
}

/** Writes one line to stdout synchronously, so lines are never interleaved. */
function writeStdoutLine(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let written = 0;
  while (written < bytes.length) {
    try {
      written += Deno.stdout.writeSync(bytes.subarray(written));
    } catch {
      return; // stdout closed (for example the supervisor went away): drop the line.
    }
  }
}

/** Options of {@linkcode setupLogging}. */
export interface LoggingOptions {
  /**
   * Where each JSON line goes (without its newline). Default: stdout, synchronously. The
   * supervisor passes its log multiplexer on a terminal, so its own lines read like its
   * children's.
   */
  writeLine?: (line: string) => void;
}

/**
 * Configures logging for this process: JSON lines, one per record. Call once at start-up,
 * before the first log line.
 *
 * @example
 * ```ts
 * await setupLogging("raft-1", "info");
 * getLogger("raft").info("became leader", { term: 3 });
 * ```
 */
export async function setupLogging(
  service: string,
  level: LogLevel = "info",
  { writeLine = writeStdoutLine }: LoggingOptions = {},
): Promise<void> {
  const sink: Sink = (record) => writeLine(formatJsonLine(service, record));
  await configure({
    reset: true,
    sinks: { lines: sink },
    loggers: [
      { category: [ROOT_CATEGORY], lowestLevel: TO_LOGTAPE[level], sinks: ["lines"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["lines"] },
    ],
  });
}

/** Removes the logging configuration (for tests). */
export async function resetLogging(): Promise<void> {
  await reset();
}

/**
 * Returns the logger for a category such as `"raft"` or `["broker", "storage"]`, below the
 * project's root category.
 */
export function getLogger(category: string | readonly string[]): Logger {
  const parts = typeof category === "string" ? category.split(".") : [...category];
  return getLogTapeLogger([ROOT_CATEGORY, ...parts]);
}
