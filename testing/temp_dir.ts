/**
 * Temporary directories that remove themselves.
 *
 * @module
 */

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
