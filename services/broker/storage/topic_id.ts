/**
 * Topic ids (KIP-516): a random 128-bit id per topic, which Metadata v10+ hands out and Fetch
 * v13+ names topics by. Kept as Kafka keeps it, in a `partition.metadata` file in every
 * partition directory (`version: 0` and `topic_id: <base64url>`), so that a data dir moved to
 * or from Kafka's layout keeps its ids, and a topic deleted and created again gets a new id.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { writeFileDurably } from "./durable_file.ts";

/** The name of the file that holds a partition's topic id, as in Kafka's log directories. */
export const PARTITION_METADATA_FILE = "partition.metadata";

/** The text form of a topic id: Kafka's `Uuid.toString()`, 22 base64url characters. */
export function topicIdToString(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString("base64url");
}

/** Parses the text form of a topic id; undefined when it is not one. */
export function parseTopicId(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]{22}$/.test(text)) return undefined;
  const id = new Uint8Array(Buffer.from(text, "base64url"));
  return id.length === 16 && topicIdToString(id) === text ? id : undefined;
}

/**
 * A new random topic id. Like Kafka's `Uuid.randomUuid()` it is never the zero id (which
 * means "no id" on the wire) nor id 1 (Kafka's metadata topic), and its text form does not
 * start with `-` (which a command line would take for an option).
 */
export function newTopicId(): Uint8Array {
  for (;;) {
    const id = crypto.getRandomValues(new Uint8Array(16));
    const reserved = id.slice(0, 15).every((b) => b === 0) && id[15]! <= 1;
    if (!reserved && !topicIdToString(id).startsWith("-")) return id;
  }
}

/** The topic id in the partition directory `dir`, or undefined when it has none (or a bad one). */
export async function readTopicId(dir: string): Promise<Uint8Array | undefined> {
  const text = await Deno.readTextFile(join(dir, PARTITION_METADATA_FILE)).catch(() => undefined);
  const match = text === undefined ? null : /^topic_id: (\S+)$/m.exec(text);
  return match ? parseTopicId(match[1]!) : undefined;
}

/**
 * Writes the topic id into the partition directory `dir` durably ({@linkcode writeFileDurably}:
 * a crash leaves the old file or the new one, and the directory entry is fsynced).
 */
export function writeTopicId(dir: string, id: Uint8Array): Promise<void> {
  return writeFileDurably(
    join(dir, PARTITION_METADATA_FILE),
    `version: 0\ntopic_id: ${topicIdToString(id)}\n`,
  );
}
