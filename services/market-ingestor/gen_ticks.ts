/**
 * The tick file generator (`deno task gen:ticks`): records the seeded synthetic market into a
 * CSV or NDJSON file for replay. Without `--out` it regenerates the sample files in
 * `testdata/` (the same bytes every time).
 *
 * ```sh
 * deno task gen:ticks                                   # testdata/sample_ticks.{csv,ndjson}
 * deno task gen:ticks --out day.ndjson --count 100000 --rate 2000 --seed 9 --symbols AAPL,MSFT
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { SeededRandom } from "@trading/shared/seeded-random";
import { SyntheticMarket } from "./synthetic_market.ts";
import { formatTickFile, type RecordedTick, tickFileFormat } from "./tick_file.ts";

/** Options of {@linkcode generateTicks}. */
export interface GenerateOptions {
  symbols: string[];
  seed: number;
  count: number;
  /** Average ticks per second of the recording (the gaps between ticks are jittered). */
  ratePerSecond: number;
  /** Recording time of the first tick, epoch microseconds. */
  startUs: number;
}

/** Records `count` ticks of the synthetic market, with jittered recording times. */
export function generateTicks(options: GenerateOptions): RecordedTick[] {
  const market = new SyntheticMarket({ symbols: options.symbols, seed: options.seed });
  const jitter = new SeededRandom(options.seed + 1);
  const meanGapUs = 1_000_000 / options.ratePerSecond;
  let timeUs = options.startUs;
  return Array.from({ length: options.count }, () => {
    const tick = { timeUs, ...market.next() };
    timeUs += Math.max(1, Math.round(meanGapUs * (0.5 + jitter.next())));
    return tick;
  });
}

const SAMPLE: GenerateOptions = {
  symbols: ["AAPL", "MSFT", "GOOG"],
  seed: 42,
  count: 300,
  ratePerSecond: 50,
  startUs: Date.UTC(2024, 0, 2, 14, 30) * 1000,
};

/** The command line: writes the file(s) and returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      out: { type: "string" },
      count: { type: "string" },
      rate: { type: "string" },
      seed: { type: "string" },
      symbols: { type: "string" },
    },
  });
  const number = (name: string, value: string | undefined, fallback: number) => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) {
      throw new Error(`Invalid --${name} "${value}": expected a positive number`);
    }
    return n;
  };
  const options: GenerateOptions = {
    ...SAMPLE,
    symbols: values.symbols?.split(",").map((s) => s.trim()).filter(Boolean) ?? SAMPLE.symbols,
    seed: number("seed", values.seed, SAMPLE.seed),
    count: Math.floor(number("count", values.count, SAMPLE.count)),
    ratePerSecond: number("rate", values.rate, SAMPLE.ratePerSecond),
  };
  const ticks = generateTicks(options);
  const outputs = values.out !== undefined
    ? [values.out]
    : ["csv", "ndjson"].map((ext) =>
      new URL(`./testdata/sample_ticks.${ext}`, import.meta.url).pathname
    );
  for (const path of outputs) {
    await Deno.writeTextFile(path, formatTickFile(ticks, tickFileFormat(path)));
    console.log(`wrote ${ticks.length} ticks to ${path}`);
  }
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    Deno.exit(2);
  }
}
