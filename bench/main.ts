/**
 * `deno task bench [suite...] [--json] [--quick] [--key=value...]`: runs the benchmark
 * suites (`bench/<suite>.ts`), prints a table (or one JSON line per case with `--json`),
 * and writes every result to `.data/bench/<time>.jsonl`.
 *
 * On a terminal, stderr shows one progress line per suite, rewritten in place (cases done,
 * elapsed, the suite's latest step) and then its summary; when stderr is piped, nothing but
 * errors goes there, and stdout holds only the table or the JSON lines.
 *
 * @module
 */
import { formatElapsed, Progress, type ProgressOptions } from "@trading/shared/progress";
import type { BenchResult, BenchSuite } from "./types.ts";

/** The suites, in the order they run when none is named. */
export const SUITES: Record<string, () => Promise<BenchSuite>> = {
  broker: () => import("./broker.ts"),
  raft: () => import("./raft.ts"),
  pipeline: () => import("./pipeline.ts"),
};

const COLUMNS: Array<keyof BenchResult> = [
  "ops_per_s",
  "msgs_per_s",
  "mb_per_s",
  "p50_ms",
  "p99_ms",
  "p999_ms",
  "max_ms",
  "rss_mb",
];

function formatTable(results: BenchResult[]): string {
  const used = COLUMNS.filter((c) => results.some((r) => r[c] !== undefined));
  const header = ["suite", "case", ...used, "params"];
  const rows = results.map((r) => [
    r.suite,
    r.case,
    ...used.map((c) => (r[c] === undefined ? "" : String(r[c]))),
    Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(" "),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((
      cell,
      i,
    ) => (i < 2 || i === cells.length - 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join("  ").trimEnd();
  const commands = [...new Set(results.map((r) => r.command))].map((c) => `  ${c}`);
  const notes = results.filter((r) => r.note).map((r) => `  ${r.case}: ${r.note}`);
  return [
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line),
    "",
    "commands:",
    ...commands,
    ...(notes.length > 0 ? ["", "notes:", ...notes] : []),
  ].join("\n");
}

/** Options of {@linkcode main}, for tests. */
export interface BenchMainOptions {
  /** The suites to choose from; default {@linkcode SUITES}. */
  suites?: Record<string, () => Promise<BenchSuite>>;
  /** Where the results file goes; default `.data/bench/` of the repository. */
  resultsDir?: string;
  /** Progress line settings; on when stderr is a terminal by default. */
  progress?: ProgressOptions;
  /** Where the table or JSON lines go; default stdout. */
  print?: (line: string) => void;
}

/** Runs the named suites (all when none) and returns the process exit code. */
export async function main(argv: string[], options: BenchMainOptions = {}): Promise<number> {
  const suites = options.suites ?? SUITES;
  const print = options.print ?? ((line: string) => console.log(line));
  const json = argv.includes("--json");
  const quick = argv.includes("--quick");
  const args: Record<string, string> = {};
  const names: string[] = [];
  for (const arg of argv) {
    const match = /^--([^=]+)=(.*)$/.exec(arg);
    if (match) args[match[1]!] = match[2]!;
    else if (!arg.startsWith("--")) names.push(arg);
  }
  const unknown = names.filter((n) => !(n in suites));
  if (unknown.length > 0 || argv.includes("--help")) {
    console.error(
      `Usage: deno task bench [suite...] [--json] [--quick] [--key=value...]\n` +
        `Suites: ${Object.keys(suites).join(", ") || "(none yet)"}` +
        (unknown.length > 0 ? `\nUnknown suite: ${unknown.join(", ")}` : ""),
    );
    return 2;
  }
  const results: BenchResult[] = [];
  let interactive = false;
  for (const name of names.length > 0 ? names : Object.keys(suites)) {
    const progress = new Progress(`bench ${name}`, "cases done", options.progress);
    interactive ||= progress.enabled;
    const startedAt = performance.now();
    // Redrawn every second, so that the elapsed time moves while a case runs silently.
    let step = "loading";
    progress.detail(step);
    const ticker = progress.enabled ? setInterval(() => progress.detail(step), 1000) : undefined;
    let suiteResults: BenchResult[];
    try {
      const suite = await suites[name]!();
      suiteResults = await suite.run({
        quick,
        args,
        progress: (line) => {
          step = line;
          progress.detail(line);
        },
      });
    } finally {
      clearInterval(ticker);
    }
    progress.set(suiteResults.length);
    progress.done(
      `${suiteResults.length} cases in ${formatElapsed(performance.now() - startedAt)}`,
    );
    results.push(...suiteResults);
    if (json) { for (const result of suiteResults) print(JSON.stringify(result)); }
  }
  if (!json) print(formatTable(results));
  const dir = options.resultsDir ?? new URL("../.data/bench/", import.meta.url).pathname;
  await Deno.mkdir(dir, { recursive: true });
  const file = `${dir.replace(/\/?$/, "/")}${new Date().toISOString().replaceAll(":", "-")}.jsonl`;
  await Deno.writeTextFile(file, results.map((r) => JSON.stringify(r)).join("\n") + "\n");
  if (interactive) console.error(`results written to ${file}`);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
