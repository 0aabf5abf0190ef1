/**
 * The suite's mode: quick by default (CI), long with `TEST_MODE=long`.
 *
 * @module
 */

/** True when the suite runs in its long (soak) mode: `TEST_MODE=long`. */
export function longMode(): boolean {
  return Deno.env.get("TEST_MODE") === "long";
}
