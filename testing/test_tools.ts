/**
 * The Debian tools some tests run (real Kafka clients, a browser): the table that
 * `deno task setup` installs from, and the check a test calls before it uses one.
 *
 * @module
 */

/** A program from Debian that some tests run; `deno task setup` installs the missing ones. */
export interface TestTool {
  /** What the tests call it, e.g. `kcat`. */
  name: string;
  /** The Debian package that provides it. */
  debianPackage: string;
  /** A command that exits 0 when the tool works. */
  check: readonly [string, ...string[]];
}

/** Debian's Python, which sees the python3-* packages (a pyenv `python3` on PATH does not). */
export const DEBIAN_PYTHON = "/usr/bin/python3";

/** Debian's Chromium, driven by playwright-core (Playwright's own browser download is never used). */
export const CHROMIUM = "/usr/bin/chromium";

/** Every tool the suite needs beyond Deno: real Kafka clients and a browser. */
export const TEST_TOOLS: readonly TestTool[] = [
  { name: "kcat", debianPackage: "kcat", check: ["kcat", "-V"] },
  {
    name: "kafka-python",
    debianPackage: "python3-kafka",
    check: [DEBIAN_PYTHON, "-c", "import kafka"],
  },
  {
    name: "confluent-kafka-python",
    debianPackage: "python3-confluent-kafka",
    check: [DEBIAN_PYTHON, "-c", "import confluent_kafka"],
  },
  { name: "chromium", debianPackage: "chromium", check: [CHROMIUM, "--version"] },
];

/** True when `tool`'s check command runs and exits 0. */
export async function toolWorks(tool: TestTool): Promise<boolean> {
  const [command, ...args] = tool.check;
  try {
    const { success } = await new Deno.Command(command, { args, stdout: "null", stderr: "null" })
      .output();
    return success;
  } catch {
    return false; // Not installed: spawning fails with NotFound.
  }
}

/**
 * Throws, naming the fix, when the test tool `name` is missing, so that a test fails with one
 * clear line instead of being skipped or dying on a spawn error.
 */
export async function requireTestTool(name: string): Promise<void> {
  const tool = TEST_TOOLS.find((t) => t.name === name);
  if (tool === undefined) {
    throw new Error(`Unknown test tool "${name}": expected one of TEST_TOOLS`);
  }
  if (!(await toolWorks(tool))) {
    throw new Error(
      `${tool.name} is not installed: run \`deno task setup\` (apt-get install -y ${tool.debianPackage})`,
    );
  }
}
