/**
 * `deno task bench [suite...] [--json] [--quick] [--key=value...]`: runs the benchmark
 * suites (`bench/<suite>.ts`), prints a table (or one JSON line per case with `--json`),
 * and writes every result to `.data/bench/<time>.jsonl`.
 *
 * @module
 */
import type { BenchResult, BenchSuite } from "./types.ts";

/** The suites, in the order they run when none is named. */
export const SUITES: Record<string, () => Promise<BenchSuite>> = {
  broker: () => import("./broker.ts"),
  raft: () => import("./raft.ts"),
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

/** Runs the named suites (all when none) and returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const json = argv.includes("--json");
  const quick = argv.includes("--quick");
  const args: Record<string, string> = {};
  const names: string[] = [];
  for (const arg of argv) {
    const match = /^--([^=]+)=(.*)$/.exec(arg);
    if (match) args[match[1]!] = match[2]!;
    else if (!arg.startsWith("--")) names.push(arg);
  }
  const unknown = names.filter((n) => !(n in SUITES));
  if (unknown.length > 0 || argv.includes("--help")) {
    console.error(
      `Usage: deno task bench [suite...] [--json] [--quick] [--key=value...]\n` +
        `Suites: ${Object.keys(SUITES).join(", ") || "(none yet)"}` +
        (unknown.length > 0 ? `\nUnknown suite: ${unknown.join(", ")}` : ""),
    );
    return 2;
  }
  const interactive = Deno.stderr.isTerminal() && !json;
  const progress = interactive
    ? (line: string) => console.error(`  ${line}`)
    : (_line: string) => {};
  const results: BenchResult[] = [];
  for (const name of names.length > 0 ? names : Object.keys(SUITES)) {
    if (interactive) console.error(`bench ${name}...`);
    const suite = await SUITES[name]!();
    const suiteResults = await suite.run({ quick, args, progress });
    results.push(...suiteResults);
    if (json) { for (const result of suiteResults) console.log(JSON.stringify(result)); }
  }
  if (!json) console.log(formatTable(results));
  const dir = new URL("../.data/bench/", import.meta.url).pathname;
  await Deno.mkdir(dir, { recursive: true });
  const file = `${dir}${new Date().toISOString().replaceAll(":", "-")}.jsonl`;
  await Deno.writeTextFile(file, results.map((r) => JSON.stringify(r)).join("\n") + "\n");
  if (interactive) console.error(`results written to ${file}`);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
