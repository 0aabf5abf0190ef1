/**
 * How the supervisor starts a role: by re-running its own executable, so that the same
 * layout works under `deno run` and for a binary made by `deno compile`.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import type { ChildCommand } from "./child_spec.ts";

/** The one entry point of every role, next to this member's folder. */
export const MAIN_MODULE_URL: URL = new URL("../../main.ts", import.meta.url);

/** What {@linkcode isCompiledBinary} looks at; the running process's by default. */
export interface RuntimeFacts {
  /** `Deno.build.standalone`: true in a binary made by `deno compile`. */
  standalone?: boolean | undefined;
  /** `Deno.mainModule`. */
  mainModule: string;
}

/**
 * True when this process is a binary made by `deno compile`. `Deno.build.standalone` says so
 * directly; older runtimes lack it, and there the main module's URL gives it away, because a
 * compiled binary serves its modules from a virtual `deno-compile-<name>` directory.
 */
export function isCompiledBinary(
  facts: RuntimeFacts = {
    standalone: (Deno.build as { standalone?: boolean }).standalone,
    mainModule: Deno.mainModule,
  },
): boolean {
  if (facts.standalone !== undefined) return facts.standalone;
  return /[\\/]deno-compile-[^\\/]+[\\/]/.test(decodeURIComponent(facts.mainModule));
}

/**
 * Returns the command that runs `role` with this process's own executable:
 * `<deno> run -A --frozen --config <root>/deno.json <root>/main.ts <role>` under `deno run`,
 * `<binary> <role>` in a compiled binary.
 */
export function selfCommand(
  role: string,
  args: readonly string[] = [],
  compiled: boolean = isCompiledBinary(),
): ChildCommand {
  if (compiled) return { executable: Deno.execPath(), args: [role, ...args] };
  const mainPath = fileURLToPath(MAIN_MODULE_URL);
  const configPath = fileURLToPath(new URL("../../deno.json", import.meta.url));
  return {
    executable: Deno.execPath(),
    // --config pins the workspace (import map, lock file) whatever the child's cwd is.
    args: ["run", "-A", "--frozen", `--config=${configPath}`, mainPath, role, ...args],
  };
}
