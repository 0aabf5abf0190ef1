/**
 * `deno task compat:librdkafka [--tests 0001,0012] [--timeout 300] [--jobs 2] [--all] [--full]`:
 * librdkafka's own integration test suite as the judge of the embedded broker's wire
 * compatibility.
 *
 * 1. Fetches Debian's librdkafka source with `apt-get source librdkafka` into a cache dir
 *    outside the repo (`COMPAT_CACHE_DIR`, default `~/.cache/trading-compat`), adding a
 *    `deb-src` entry for Debian's archive when apt has none. Nothing of librdkafka's is ever
 *    written into the repo.
 * 2. Builds `tests/test-runner` against Debian's installed librdkafka (`librdkafka-dev`,
 *    `-lrdkafka -lrdkafka++`): the in-tree library is not built; `./configure` runs only to
 *    produce the `config.h` that the tests' private headers include, and the system headers
 *    come first on the include path. Objects are cached, so a second run only links.
 * 3. Starts two embedded brokers in-process on free loopback ports, configured as librdkafka's
 *    own test clusters are (`tests/scenarios/*.json`): `default` (auto-create on, 4 partitions)
 *    and `noautocreate` (auto-create off).
 * 4. Runs every test that needs a broker (not `TEST_F_LOCAL`, not manual), one test number per
 *    `test-runner` process (`TESTS=<n> -Q -L -p1`, quick mode), killed at `--timeout` seconds,
 *    `--jobs` processes at a time, in the scenario the test asks for.
 * 5. Prints the pass / fail table and writes it, with every test's output and the brokers'
 *    log (`broker.log`), to `test-artifacts/compat-librdkafka/` (gitignored).
 *
 * Exits 0 when no test that applies fails. Needs root for apt-get when a package or the source
 * is missing. Not part of `deno task test`: it takes minutes and needs Debian's source.
 *
 * @module
 */
import { join } from "node:path";
import { type Broker, startBroker } from "@trading/broker";
import { setupLogging } from "@trading/shared/log";
import { tempDir } from "@trading/testing";
import {
  countOutcomes,
  decideOutcomes,
  expandSplits,
  type LibrdkafkaTest,
  NOT_APPLICABLE,
  parseTestList,
  renderTable,
} from "./compat_librdkafka_report.ts";

const REPO = new URL("..", import.meta.url).pathname;
const ARTIFACTS = join(REPO, "test-artifacts", "compat-librdkafka");
/** What the build needs: the library and headers, compilers, apt-get source, RapidJSON (0053). */
const PACKAGES = ["librdkafka-dev", "build-essential", "dpkg-dev", "rapidjson-dev"];
/**
 * Kafka version the tests are told the broker is (TEST_KAFKA_VERSION; it gates some
 * expectations). 2.8.0: the broker answers as Kafka 2.7+ does where the 2.0.2 suite tells them
 * apart (0081's AlterConfigs on a missing topic: UNKNOWN_TOPIC_OR_PARTITION, not UNKNOWN), and
 * the suite's 3.0+ gates are only for Kafka's own tools (kafka-topics.sh --bootstrap-server)
 * and OIDC (0126), neither of which applies here. librdkafka's default is 2.4.0.
 */
const KAFKA_VERSION = "2.8.0";

interface Options {
  tests?: string[];
  timeoutSeconds: number;
  jobs: number;
  all: boolean;
  /** Full mode: without -Q, every sub-test and the full message counts (much slower). */
  full: boolean;
}

function parseArgs(args: string[]): Options {
  const options: Options = { timeoutSeconds: 300, jobs: 2, all: false, full: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`Option ${arg} needs a value`);
      return v;
    };
    if (arg === "--tests") options.tests = value().split(",").map((s) => s.trim());
    else if (arg === "--timeout") options.timeoutSeconds = positive(arg, value());
    else if (arg === "--jobs") options.jobs = positive(arg, value());
    else if (arg === "--all") options.all = true;
    else if (arg === "--full") options.full = true;
    else {
      throw new Error(
        `Unknown option ${arg}: expected --tests, --timeout, --jobs, --all or --full`,
      );
    }
  }
  return options;
}

function positive(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`Invalid ${name} "${value}": expected a positive integer`);
  }
  return n;
}

async function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; quiet?: boolean } = {},
): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: { DEBIAN_FRONTEND: "noninteractive" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed with exit code ${out.code}:\n${text}`);
  }
  if (!options.quiet) console.log(text.trimEnd());
  return text;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function mtime(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).mtime?.getTime() ?? 0;
  } catch {
    return 0;
  }
}

async function installedVersion(pkg: string): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("dpkg-query", {
      args: ["-W", "-f", "${Status} ${Version}", pkg],
      stdout: "piped",
      stderr: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    return out.success && text.startsWith("install ok installed")
      ? text.split(" ").at(-1)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Installs the missing build packages; returns whether it installed any. */
async function ensurePackages(): Promise<boolean> {
  const missing = [];
  for (const pkg of PACKAGES) if (await installedVersion(pkg) === undefined) missing.push(pkg);
  if (missing.length === 0) return false;
  console.log(`compat: installing ${missing.join(" ")}`);
  await run("apt-get", ["install", "-y", ...missing], { quiet: true });
  return true;
}

/** Adds a deb-src entry for Debian's archive when no apt source has one, then updates. */
async function ensureDebSrc(): Promise<void> {
  const files = ["/etc/apt/sources.list"];
  for await (const e of Deno.readDir("/etc/apt/sources.list.d")) {
    files.push(join("/etc/apt/sources.list.d", e.name));
  }
  for (const file of files) {
    const text = await Deno.readTextFile(file).catch(() => "");
    if (/^\s*deb-src\s/m.test(text) || /^Types:.*\bdeb-src\b/m.test(text)) return;
  }
  const codename = (await Deno.readTextFile("/etc/os-release"))
    .match(/^VERSION_CODENAME=(\S+)/m)?.[1] ?? "bookworm";
  const file = "/etc/apt/sources.list.d/debian-src.sources";
  console.log(`compat: adding ${file} (deb-src for ${codename})`);
  await Deno.writeTextFile(
    file,
    `Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: ${codename} ` +
      `${codename}-updates\nComponents: main\n` +
      `Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`,
  );
  await run("apt-get", ["update"], { quiet: true });
}

/** Returns the unpacked source dir of the installed librdkafka version, fetching it if needed. */
async function ensureSource(cacheDir: string): Promise<string> {
  const version = await installedVersion("librdkafka-dev");
  if (version === undefined) throw new Error("librdkafka-dev is not installed");
  const upstream = version.replace(/^\d+:/, "").replace(/-[^-]+$/, "");
  const dir = join(cacheDir, `librdkafka-${upstream}`);
  if (await exists(join(dir, "tests", "test.c"))) return dir;
  await Deno.mkdir(cacheDir, { recursive: true });
  await ensureDebSrc();
  console.log(`compat: apt-get source librdkafka=${version} into ${cacheDir}`);
  await run("apt-get", ["source", `librdkafka=${version}`], { cwd: cacheDir, quiet: true });
  if (!await exists(join(dir, "tests", "test.c"))) {
    throw new Error(`apt-get source did not unpack ${dir}/tests/test.c`);
  }
  return dir;
}

/** Runs `tasks` with at most `jobs` at a time. */
async function pool<T>(jobs: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, worker));
  return results;
}

/**
 * Builds tests/test-runner against the system librdkafka: `config.h` from `./configure`, the
 * test sources plus librdkafka's tinycthread and rdlist (the runner's own helpers), linked with
 * `-lrdkafka++ -lrdkafka` from /usr/lib. Returns the runner's path.
 */
async function buildRunner(src: string, jobs: number, reconfigure: boolean): Promise<string> {
  const tests = join(src, "tests");
  // configure again when packages were installed: config.h records what it found (RapidJSON).
  if (reconfigure || !await exists(join(src, "config.h"))) {
    console.log("compat: ./configure (for config.h only; the in-tree library is not built)");
    await run("./configure", ["--prefix=/usr"], { cwd: src, quiet: true });
  }
  const build = join(src, "build-compat");
  await Deno.mkdir(build, { recursive: true });
  const sources: string[] = ["rusage.c", "sockem.c", "sockem_ctrl.c", "testcpp.cpp"];
  for await (const e of Deno.readDir(tests)) {
    if (/^[08]\d{3}-.*\.(c|cpp)$/.test(e.name)) sources.push(e.name);
  }
  sources.push("test.c", "../src/tinycthread.c", "../src/tinycthread_extra.c", "../src/rdlist.c");
  const includes = ["-I/usr/include/librdkafka", "-I../src", "-I../src-cpp"];
  const objects: string[] = [];
  const configured = await mtime(join(src, "config.h"));
  const compile = sources.map((file) => {
    const object = join(build, file.replace(/^.*\//, "") + ".o");
    objects.push(object);
    return async () => {
      const built = await mtime(object);
      if (built > configured && built > await mtime(join(tests, file))) return;
      const cxx = file.endsWith(".cpp");
      await run(
        cxx ? "g++" : "gcc",
        ["-O1", "-fPIC", "-w", ...includes, "-c", file, "-o", object],
        {
          cwd: tests,
          quiet: true,
        },
      );
    };
  });
  console.log(`compat: compiling ${sources.length} files (cached objects are kept)`);
  await pool(jobs, compile);
  const runner = join(build, "test-runner");
  await run("g++", [
    "-rdynamic",
    "-o",
    runner,
    ...objects,
    "-lrdkafka++",
    "-lrdkafka",
    "-lm",
    "-lssl",
    "-lcrypto",
    "-lz",
    "-ldl",
    "-lpthread",
    "-lrt",
  ], { quiet: true });
  const ldd = await run("ldd", [runner], { quiet: true });
  const lib = ldd.split("\n").find((l) => l.includes("librdkafka.so"))?.trim();
  console.log(`compat: built ${runner}, linked to ${lib}`);
  return runner;
}

interface Scenario {
  name: string;
  broker: Broker;
  conf: string;
}

async function runTestNumber(
  srcDir: string,
  runner: string,
  scenario: Scenario,
  test: LibrdkafkaTest,
  options: Options,
  workDir: string,
): Promise<{ output: string; timedOut: boolean }> {
  const number = test.number;
  const label = test.subtest === undefined
    ? `${number}-${scenario.name}`
    : `${number}-${scenario.name}-${test.subtest}`;
  // Each run in its own directory (tests write stats and offset files there), whose ../src
  // is librdkafka's src/: 0053_stats reads ../src/statistics_schema.json.
  const cwd = join(workDir, "runs", label);
  await Deno.mkdir(cwd, { recursive: true });
  await Deno.symlink(join(srcDir, "src"), join(workDir, "runs", "src")).catch((error) => {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  });
  // stdbuf: the summary table is printed to a buffered stdout, and a failed run ends in
  // abort(), which would lose it.
  const child = new Deno.Command("stdbuf", {
    args: [
      "-oL",
      "-eL",
      runner,
      ...(test.subtest === undefined && !options.full ? ["-Q"] : []),
      "-L",
      "-p1",
      "-s",
      scenario.name,
    ],
    cwd,
    env: {
      TESTS: number,
      ...(test.subtest === undefined ? {} : { SUBTESTS: test.subtest }),
      RDKAFKA_TEST_CONF: scenario.conf,
      TEST_KAFKA_VERSION: KAFKA_VERSION,
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, options.timeoutSeconds * 1000);
  const out = await child.output();
  clearTimeout(timer);
  const output = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  await Deno.writeTextFile(join(ARTIFACTS, `${label}.log`), output);
  const mark = timedOut ? "timeout" : out.success ? "ok" : `exit ${out.code}`;
  console.log(`compat: ${label} ${mark}`);
  return { output, timedOut };
}

async function main(args: string[]): Promise<number> {
  const options = parseArgs(args);
  const cacheDir = Deno.env.get("COMPAT_CACHE_DIR") ??
    join(Deno.env.get("HOME") ?? "/tmp", ".cache", "trading-compat");
  const installed = await ensurePackages();
  const src = await ensureSource(cacheDir);
  const runner = await buildRunner(src, options.jobs, installed);
  const all = expandSplits(parseTestList(await Deno.readTextFile(join(src, "tests", "test.c"))));
  const wanted = all.filter((t) =>
    !t.local && !t.manual &&
    (options.tests === undefined || options.tests.some((n) => t.name.startsWith(n)))
  );
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  // The brokers' own log (groups, rebalances, errors) beside the tests' output.
  const brokerLog = await Deno.open(join(ARTIFACTS, "broker.log"), {
    write: true,
    create: true,
    truncate: true,
  });
  const encoder = new TextEncoder();
  await setupLogging("broker", "info", {
    writeLine: (line) => brokerLog.writeSync(encoder.encode(`${line}\n`)),
  });
  await using work = await tempDir("compat-librdkafka-");
  const brokers: Scenario[] = [];
  try {
    for (const [name, autoCreateTopics] of [["default", true], ["noautocreate", false]] as const) {
      const broker = await startBroker({
        dataDir: join(work.path, `broker-${name}`),
        port: 0,
        autoCreateTopics,
        defaultPartitions: 4,
      });
      const conf = join(work.path, `${name}.conf`);
      // timeout multiplier: the machine is shared; librdkafka's own CI uses 2 and more.
      await Deno.writeTextFile(
        conf,
        `metadata.broker.list=${broker.address}\ntest.timeout.multiplier=2\n`,
      );
      brokers.push({ name, broker, conf });
    }
    const scenarioOf = (t: LibrdkafkaTest) =>
      brokers.find((b) => t.scenarios.includes(b.name)) ?? brokers[0]!;
    const runKey = (t: LibrdkafkaTest) => `${t.number}-${scenarioOf(t).name}-${t.subtest ?? ""}`;
    // One test-runner process per test number and scenario: TESTS= matches numbers, and -s
    // picks the tests of one scenario.
    const groups = new Map<string, { test: LibrdkafkaTest; scenario: Scenario }>();
    for (const t of wanted) {
      if (!options.all && NOT_APPLICABLE[t.name] !== undefined) continue;
      groups.set(runKey(t), { test: t, scenario: scenarioOf(t) });
    }
    const keys = [...groups.keys()];
    const outputs = await pool(
      options.jobs,
      keys.map((key) => () => {
        const { test, scenario } = groups.get(key)!;
        return runTestNumber(src, runner, scenario, test, options, work.path);
      }),
    );
    const runs = new Map(keys.map((key, i) => [key, outputs[i]!]));
    const rows = decideOutcomes(wanted, runs, NOT_APPLICABLE, runKey);
    const table = renderTable(rows);
    const header = `# librdkafka ${src.replace(/^.*librdkafka-/, "")} test suite against the ` +
      `embedded broker\n\nRun ${new Date().toISOString()}, \`deno task compat:librdkafka ` +
      `${args.join(" ")}\`, ${
        options.full ? "full mode" : "quick mode (-Q)"
      }, broker version ${KAFKA_VERSION}, test-runner ` +
      `linked to Debian's librdkafka.\n\n`;
    await Deno.writeTextFile(join(ARTIFACTS, "results.md"), header + table + "\n");
    console.log(`\n${table}\n\nwritten to ${join(ARTIFACTS, "results.md")}`);
    const counts = countOutcomes(rows);
    return counts.fail + counts.timeout === 0 ? 0 : 1;
  } finally {
    for (const b of brokers) await b.broker.close();
    brokerLog.close();
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error(`compat: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exit(2);
  }
}
