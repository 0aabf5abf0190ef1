/**
 * Runs the `up` role's supervisor (HTTP API, signals, watchdog) over child specs given as a
 * JSON array in the first argument, for tests that need the supervisor as a process of its
 * own: `deno run -A supervisor/testdata/supervise_fixtures.ts '[{"name":"a",...}]'`.
 *
 * @module
 */
import { runSupervisor } from "../main.ts";
import { loadSupervisorConfig } from "../supervisor_config.ts";

const specs: unknown = JSON.parse(Deno.args[0] ?? "[]");
if (!Array.isArray(specs)) throw new Error("Invalid specs argument: expected a JSON array");
Deno.exit(await runSupervisor({ specs, config: loadSupervisorConfig() }));
