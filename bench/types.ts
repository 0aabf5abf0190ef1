/**
 * The contract between `deno task bench` and its suites: `bench/<suite>.ts` exports
 * `run(options)` returning one {@linkcode BenchResult} per measured case.
 *
 * @module
 */

/** One measured case, printed as a table row or as one JSON line. */
export interface BenchResult {
  /** The suite's name, e.g. `raft`. */
  suite: string;
  /** The case's name, with its concurrency or size, e.g. `apply-64-concurrent`. */
  case: string;
  ops_per_s?: number;
  msgs_per_s?: number;
  mb_per_s?: number;
  p50_ms?: number;
  p99_ms?: number;
  p999_ms?: number;
  max_ms?: number;
  rss_mb?: number;
  /** The parameters of the case: message size, batch, concurrency, duration... */
  params: Record<string, string | number | boolean>;
  /** The command line that reproduces this figure. */
  command: string;
  /** Free-form remarks (what limited it, the comparison anchor). */
  note?: string;
}

/** Options every suite receives. */
export interface BenchOptions {
  /** Shorter runs for a smoke check (`--quick`). */
  quick: boolean;
  /** Extra `--key=value` arguments, for suite-specific parameters. */
  args: Record<string, string>;
  /** Progress lines for a terminal; a no-op when piped. */
  progress: (line: string) => void;
}

/** A benchmark suite module. */
export interface BenchSuite {
  run(options: BenchOptions): Promise<BenchResult[]>;
}

/** Returns the p-th percentile (0-100) of `values` (sorted in place), or 0 when empty. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  values.sort((a, b) => a - b);
  const rank = Math.min(values.length - 1, Math.max(0, Math.ceil((p / 100) * values.length) - 1));
  return values[rank]!;
}

/** Rounds to `digits` decimals for display and JSON. */
export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
