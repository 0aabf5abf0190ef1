/**
 * Helpers for tests that run real parts: free loopback ports, polling with a deadline, and
 * temporary directories. Test code only.
 *
 * @module
 */

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Returns `count` distinct free ports. */
export function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}

/**
 * Polls `check` every `intervalMs` until it returns a value other than `undefined`, `false`
 * or `null`, and returns that value. Throws naming `what` after `timeoutMs`.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  { timeoutMs = 10_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  const suffix = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${suffix}`);
}

/** A temporary directory removed when disposed (`await using dir = await tempDir()`). */
export async function tempDir(
  prefix = "trading-test-",
): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** True when the suite runs in its long (soak) mode: `TEST_MODE=long`. */
export function longMode(): boolean {
  return Deno.env.get("TEST_MODE") === "long";
}

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
