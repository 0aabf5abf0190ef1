/**
 * `deno task setup`: installs the Debian packages that the test suite needs and that are
 * missing (real Kafka clients and Chromium, see `TEST_TOOLS`), saying what it installs. Does
 * nothing when they are all there. `deno task test` runs it first, so that a fresh machine
 * with only Node.js passes the suite. When it cannot install (not root, or no apt-get), it
 * exits 1 at once with one line naming the command to run.
 *
 * @module
 */
import { TEST_TOOLS, type TestTool, toolWorks } from "@trading/testing";

async function missingTools(): Promise<TestTool[]> {
  const works = await Promise.all(TEST_TOOLS.map(toolWorks));
  return TEST_TOOLS.filter((_, i) => !works[i]);
}

async function hasAptGet(): Promise<boolean> {
  try {
    return (await new Deno.Command("apt-get", { args: ["--version"], stdout: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

async function apt(args: string[]): Promise<void> {
  const { success, code } = await new Deno.Command("apt-get", {
    args,
    env: { DEBIAN_FRONTEND: "noninteractive" },
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!success) throw new Error(`apt-get ${args.join(" ")} failed with exit code ${code}`);
}

/** What `deno task setup` does, decided from what this machine has. */
export type SetupPlan =
  | { kind: "nothing" }
  | { kind: "install"; packages: string[] }
  | { kind: "refuse"; message: string };

/**
 * Decides the setup: nothing when no tool is missing, an apt-get install of the missing
 * tools' packages as root with apt-get, otherwise a one-line refusal naming the command.
 */
export function planSetup(
  missing: readonly TestTool[],
  { hasAptGet, isRoot }: { hasAptGet: boolean; isRoot: boolean },
): SetupPlan {
  if (missing.length === 0) return { kind: "nothing" };
  const packages = [...new Set(missing.map((t) => t.debianPackage))];
  const names = missing.map((t) => t.name).join(", ");
  if (!hasAptGet) {
    return {
      kind: "refuse",
      message: `setup: the tests need ${names} and this machine has no apt-get: install the ` +
        `Debian packages ${packages.join(" ")} or their equivalents`,
    };
  }
  if (!isRoot) {
    return {
      kind: "refuse",
      message: `setup: the tests need ${names}: run \`sudo apt-get install -y ${
        packages.join(" ")
      }\``,
    };
  }
  return { kind: "install", packages };
}

async function main(): Promise<number> {
  const plan = planSetup(await missingTools(), {
    hasAptGet: await hasAptGet(),
    isRoot: Deno.uid() === 0,
  });
  if (plan.kind === "nothing") return 0;
  if (plan.kind === "refuse") {
    console.error(plan.message);
    return 1;
  }
  const { packages } = plan;
  console.error(`setup: installing Debian packages the tests need: ${packages.join(" ")}`);
  await apt(["update", "-qq"]);
  await apt(["install", "-y", "-qq", "--no-install-recommends", ...packages]);
  const stillMissing = await missingTools();
  if (stillMissing.length > 0) {
    console.error(
      `setup: ${stillMissing.map((t) => t.name).join(", ")} still not working after ` +
        `apt-get install -y ${packages.join(" ")}`,
    );
    return 1;
  }
  console.error(`setup: installed ${packages.join(" ")}`);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
