/**
 * Failpoints for crash tests: `TRADING_FAILPOINTS=after-send:3,before-fence:2:stop` makes the
 * process exit at once (exit code 86, no shutdown steps, like a SIGKILL) the 3rd time it
 * passes `failpoint("after-send")`, and stop itself (SIGSTOP, until a SIGCONT: a process
 * frozen mid-work, as by a long GC pause or a paused VM) the 2nd time it passes
 * `failpoint("before-fence")`. Unset (always, outside tests) they cost one map lookup.
 *
 * @module
 */

/** The exit code of a process stopped by a failpoint. */
export const FAILPOINT_EXIT_CODE = 86;

const ARMED = new Map<string, { count: number; action: "exit" | "stop" }>();
for (const part of (Deno.env.get("TRADING_FAILPOINTS") ?? "").split(",")) {
  const [name, count, action] = part.trim().split(":");
  if (name && Number(count) >= 1) {
    ARMED.set(name, { count: Number(count), action: action === "stop" ? "stop" : "exit" });
  }
}

/** Exits (or stops) the process when the failpoint `name` is armed and its count is reached. */
export function failpoint(name: string): void {
  const armed = ARMED.get(name);
  if (armed === undefined) return;
  if (--armed.count > 0) return;
  ARMED.delete(name);
  if (armed.action === "stop") {
    console.error(`failpoint ${name}: stopping (SIGSTOP)`);
    Deno.kill(Deno.pid, "SIGSTOP");
    return;
  }
  console.error(`failpoint ${name}: exiting with ${FAILPOINT_EXIT_CODE}`);
  Deno.exit(FAILPOINT_EXIT_CODE);
}
