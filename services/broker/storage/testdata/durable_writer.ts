/**
 * Child of durable_file_test.ts: replaces the file named by its first argument with
 * version 1, 2, 3, ... forever (each version `VERSION_BYTES` of one digit), through
 * writeFileDurably, and prints each version number once it is durable.
 */
import { writeFileDurably } from "../durable_file.ts";

const VERSION_BYTES = 4 << 20;
const path = Deno.args[0]!;
for (let version = 1;; version++) {
  await writeFileDurably(path, String(version % 10).repeat(VERSION_BYTES));
  console.log(version);
}
