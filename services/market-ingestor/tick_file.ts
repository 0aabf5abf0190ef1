/**
 * Recorded tick files, CSV or NDJSON, for replay: reading (validated line by line with zod)
 * and writing (used by the generator that made the sample files in `testdata/`).
 *
 * CSV has the header `time_us,symbol,price,size,bid,ask`; NDJSON has one object per line
 * with the same keys. Prices are integers in minor units; `time_us` is the recording time in
 * epoch microseconds and only its differences matter (they pace the replay).
 *
 * @module
 */
import { z } from "zod";
import type { Quote } from "./synthetic_market.ts";

/** A tick as recorded in a file: a quote and the time it was observed. */
export interface RecordedTick extends Quote {
  timeUs: number;
}

/** The formats a tick file can have, chosen by its extension. */
export type TickFileFormat = "csv" | "ndjson";

/** The CSV header, also the NDJSON keys. */
export const TICK_FILE_COLUMNS = ["time_us", "symbol", "price", "size", "bid", "ask"] as const;

const integer = z.number().int().safe();
const positive = integer.positive();

const recordedTickSchema = z.object({
  time_us: integer.nonnegative(),
  symbol: z.string().regex(/^[A-Za-z0-9._-]{1,32}$/),
  price: positive,
  size: positive,
  bid: positive,
  ask: positive,
}).refine((t) => t.bid <= t.ask, { message: "bid above ask" });

/** Returns the format of `path` from its extension, or throws naming the expected ones. */
export function tickFileFormat(path: string): TickFileFormat {
  if (/\.csv$/i.test(path)) return "csv";
  if (/\.(ndjson|jsonl)$/i.test(path)) return "ndjson";
  throw new Error(`Invalid tick file "${path}": expected a .csv, .ndjson or .jsonl file`);
}

/** Parses one data line of a tick file; throws naming the line number and the expected form. */
export function parseTickLine(
  line: string,
  format: TickFileFormat,
  lineNumber: number,
): RecordedTick {
  let candidate: unknown;
  if (format === "csv") {
    const cells = line.split(",").map((cell) => cell.trim());
    candidate = Object.fromEntries(
      TICK_FILE_COLUMNS.map((column, i) => {
        const cell = cells[i] ?? "";
        return [column, column === "symbol" ? cell : cell === "" ? Number.NaN : Number(cell)];
      }),
    );
    if (cells.length !== TICK_FILE_COLUMNS.length) candidate = undefined;
  } else {
    try {
      candidate = JSON.parse(line);
    } catch {
      candidate = undefined;
    }
  }
  const parsed = recordedTickSchema.safeParse(candidate);
  if (!parsed.success) {
    const shown = line.length > 80 ? `${line.slice(0, 77)}...` : line;
    throw new Error(
      `Invalid tick on line ${lineNumber} "${shown}": expected ${TICK_FILE_COLUMNS.join(",")} ` +
        "with integer prices and sizes, bid <= ask",
    );
  }
  const t = parsed.data;
  return {
    timeUs: t.time_us,
    symbol: t.symbol,
    price: t.price,
    size: t.size,
    bid: t.bid,
    ask: t.ask,
  };
}

/**
 * Reads a tick file line by line (it may be larger than memory) and yields its ticks in file
 * order. Throws on the first invalid line, naming it.
 */
export async function* readTickFile(path: string): AsyncGenerator<RecordedTick> {
  const format = tickFileFormat(path);
  using file = await Deno.open(path, { read: true });
  let lineNumber = 0;
  let headerSeen = format !== "csv";
  for await (const line of lines(file.readable)) {
    lineNumber++;
    if (line.trim() === "") continue;
    if (!headerSeen) {
      headerSeen = true;
      const header = line.split(",").map((cell) => cell.trim()).join(",");
      if (header !== TICK_FILE_COLUMNS.join(",")) {
        throw new Error(
          `Invalid CSV header "${line}" in ${path}: expected ${TICK_FILE_COLUMNS.join(",")}`,
        );
      }
      continue;
    }
    yield parseTickLine(line, format, lineNumber);
  }
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      yield pending.slice(0, newline).replace(/\r$/, "");
      pending = pending.slice(newline + 1);
    }
  }
  if (pending !== "") yield pending.replace(/\r$/, "");
}

/** Formats ticks as the content of a tick file of the given format. */
export function formatTickFile(ticks: Iterable<RecordedTick>, format: TickFileFormat): string {
  const out: string[] = format === "csv" ? [TICK_FILE_COLUMNS.join(",")] : [];
  for (const t of ticks) {
    out.push(
      format === "csv"
        ? [t.timeUs, t.symbol, t.price, t.size, t.bid, t.ask].join(",")
        : JSON.stringify({
          time_us: t.timeUs,
          symbol: t.symbol,
          price: t.price,
          size: t.size,
          bid: t.bid,
          ask: t.ask,
        }),
    );
  }
  return out.join("\n") + "\n";
}
