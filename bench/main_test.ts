import assert from "node:assert/strict";
import { tempDir } from "@trading/testing";
import { main } from "./main.ts";
import type { BenchOptions, BenchResult, BenchSuite } from "./types.ts";

/** A suite that reports two steps and one case. */
const fakeSuites: Record<string, () => Promise<BenchSuite>> = {
  fake: () =>
    Promise.resolve({
      run(options: BenchOptions): Promise<BenchResult[]> {
        options.progress("fake: warming up");
        options.progress("fake: measuring");
        return Promise.resolve([{
          suite: "fake",
          case: "one",
          ops_per_s: 42,
          params: { duration_s: 1 },
          command: "deno task bench fake",
        }]);
      },
    }),
};

Deno.test("bench on a terminal draws each suite's progress line and its summary on stderr", async () => {
  await using dir = await tempDir();
  const drawn: string[] = [];
  const printed: string[] = [];
  const code = await main(["fake", "--json"], {
    suites: fakeSuites,
    resultsDir: dir.path,
    progress: { enabled: true, intervalMs: 0, write: (text) => drawn.push(text) },
    print: (line) => printed.push(line),
  });
  assert.equal(code, 0);
  const screen = drawn.join("");
  const erase = "\r\x1b[2K"; // each draw rewrites the terminal line in place
  assert.ok(screen.startsWith(`${erase}bench fake  0 cases done  `), JSON.stringify(screen));
  assert.match(screen, /bench fake {2}0 cases done {2}\d+\/s {2}00:00 {2}fake: measuring/);
  assert.match(screen, /bench fake {2}1 cases in 00:00\n$/);
  assert.deepEqual(printed.map((line) => JSON.parse(line).ops_per_s), [42], "stdout: JSON only");
});

Deno.test("bench piped writes no progress, only the table, and records the results file", async () => {
  await using dir = await tempDir();
  const drawn: string[] = [];
  const printed: string[] = [];
  const code = await main(["fake"], {
    suites: fakeSuites,
    resultsDir: dir.path,
    progress: { enabled: false, write: (text) => drawn.push(text) },
    print: (line) => printed.push(line),
  });
  assert.equal(code, 0);
  assert.deepEqual(drawn, []);
  assert.match(printed.join("\n"), /^suite +case +ops_per_s +params\n/);
  const files = [...Deno.readDirSync(dir.path)].map((e) => e.name);
  assert.equal(files.length, 1);
  const recorded = Deno.readTextFileSync(`${dir.path}/${files[0]}`).trim().split("\n");
  assert.equal(JSON.parse(recorded[0]!).case, "one");
});
