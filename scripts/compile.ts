/**
 * `deno task compile`: builds `dist/trading`, one standalone binary that runs every role of
 * main.ts (`trading up`, `trading run order-executor`, `trading verify 30`, `trading ctl
 * status`). The supervisor starts its children by re-running its own executable with another
 * role (supervisor/supervision/self_command.ts), so the binary needs nothing beside itself.
 *
 * What it embeds beyond the module graph ({@linkcode COMPILE_INCLUDES}): the `.proto` files
 * and the dashboard's static files (read at run time through import.meta-relative URLs,
 * which resolve inside the binary's embedded file system), and every role module, which
 * main.ts loads lazily.
 *
 * `deno compile` needs the `denort` runtime of the running Deno version: it downloads it, or
 * takes the file named by `DENORT_BIN`. Where neither is possible (no network, as on the CI
 * machine) the build cannot run, so CI does not run it; scripts/compile_test.ts checks the
 * configuration instead.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** The repository root, where main.ts and deno.json live. */
export const ROOT: string = fileURLToPath(new URL("../", import.meta.url));

/** The binary, relative to the root. */
export const OUTPUT = "dist/trading";

/** Files and folders the binary reads at run time, relative to the root (`--include`). */
export const COMPILE_INCLUDES: readonly string[] = ["proto", "supervisor/dashboard/assets"];

/**
 * The role modules main.ts imports lazily (`import("./services/broker/main.ts")`), read from
 * its source. `deno compile` follows such string-literal imports by itself; they are passed
 * with `--include` too, so that a role whose import stops being a plain literal still ships.
 */
export async function roleModules(): Promise<string[]> {
  const source = await Deno.readTextFile(new URL("../main.ts", import.meta.url));
  const modules = [...source.matchAll(/import\("\.\/([^"]+)"\)/g)].map((m) => m[1]!);
  return [...new Set(modules)].sort();
}

/** Options of {@linkcode compileArgs}. */
export interface CompileOptions {
  /** `--target`, e.g. `x86_64-unknown-linux-gnu`; default the host. */
  target?: string | undefined;
  /** Output path relative to the root. Default {@linkcode OUTPUT}. */
  output?: string;
}

/** The `deno` arguments that build the binary (run with the root as working directory). */
export async function compileArgs(options: CompileOptions = {}): Promise<string[]> {
  const includes = [...COMPILE_INCLUDES, ...await roleModules()];
  return [
    "compile",
    "--allow-all",
    "--frozen",
    "--config",
    "deno.json",
    "--output",
    options.output ?? OUTPUT,
    ...(options.target ? ["--target", options.target] : []),
    ...includes.flatMap((path) => ["--include", path]),
    "main.ts",
  ];
}

const USAGE = `Usage: deno task compile [--target <triple>]

Builds ${OUTPUT}: one binary for every role (trading up, trading run <role>, trading verify 30,
trading ctl status). Needs Deno's denort runtime: downloaded by deno compile, or the file
named by DENORT_BIN.`;

/** Runs `deno compile`; returns its exit code. */
export async function main(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  let target: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--target" && args[i + 1] !== undefined) {
      target = args[++i];
    } else {
      console.error(`Unknown argument "${args[i]}": expected --target <triple>\n\n${USAGE}`);
      return 2;
    }
  }
  const denoArgs = await compileArgs({ target });
  console.error(`deno ${denoArgs.join(" ")}`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: denoArgs,
    cwd: ROOT,
    stdin: "null",
  }).spawn().status;
  if (code !== 0 && !Deno.env.get("DENORT_BIN")) {
    console.error(
      "deno compile failed. Without network access to Deno's releases it cannot fetch the " +
        "denort runtime: set DENORT_BIN to a denort binary of this Deno version " +
        `(${Deno.version.deno}) and run deno task compile again.`,
    );
  }
  if (code === 0) console.error(`built ${OUTPUT}: try ./${OUTPUT} --help`);
  return code;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
