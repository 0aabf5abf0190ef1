/**
 * Dead letters: a message that cannot be decoded or fails validation is copied, key and
 * value unchanged, to `orders.dlq` with headers naming the reason and where it came from, and
 * counted in `/metrics`. The consumer that found it goes on with the next message: one bad
 * message never stops a partition, and nothing is dropped silently.
 *
 * A value above {@linkcode MAX_DEAD_LETTER_VALUE_BYTES} is not copied (the dead letter could
 * be larger than the topic takes, and its send would then fail forever, stopping the
 * partition): the letter carries its size in `dlq-value-bytes` and says so in its detail;
 * its origin topic, partition and offset point at the bytes.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Producer } from "kafkajs";
import { TOPICS } from "../kafka/kafka.ts";
import { counter } from "../runtime/metrics.ts";
import type { InvalidMessageError } from "./invalid_message_error.ts";

/** The headers of a dead letter. */
export const DLQ_HEADERS = {
  /** `undecodable`, `invalid` or `conflict`. */
  reason: "dlq-reason",
  /** One sentence: what was wrong. */
  detail: "dlq-detail",
  topic: "dlq-origin-topic",
  partition: "dlq-origin-partition",
  offset: "dlq-origin-offset",
  /** The service that gave up on the message. */
  service: "dlq-service",
  /** Set when the value was too large to copy: its size in bytes. */
  valueBytes: "dlq-value-bytes",
} as const;

/** The largest value a dead letter copies; a larger one is left at its origin. */
export const MAX_DEAD_LETTER_VALUE_BYTES = 512 * 1024;
/** Keys and header values longer than this are cut (a key is for finding, not for replay). */
const MAX_DEAD_LETTER_KEY_BYTES = 16 * 1024;

/** A message to send to the dead-letter topic. */
export interface DeadLetter {
  topic: string;
  partition: number;
  offset: number;
  key: Uint8Array | string | null;
  value: Uint8Array | null;
  reason: InvalidMessageError["kind"] | "conflict";
  detail: string;
}

const deadLetters = counter(
  "dead_letters_total",
  "Messages sent to orders.dlq, by origin topic and reason",
  ["topic", "reason"],
);

/** Publishes dead letters for one service. */
export class DeadLetterQueue {
  #producer: Pick<Producer, "send">;
  #service: string;

  constructor(producer: Pick<Producer, "send">, service: string) {
    this.#producer = producer;
    this.#service = service;
  }

  /** Sends `letters` to `orders.dlq` (acks=-1) and counts them; resolves once acknowledged. */
  async send(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    await this.#producer.send({
      topic: TOPICS.dlq,
      acks: -1,
      messages: letters.map((letter) => {
        const tooLarge = letter.value !== null &&
          letter.value.byteLength > MAX_DEAD_LETTER_VALUE_BYTES;
        const key = letter.key === null ? null : Buffer.from(letter.key);
        return {
          key: key === null ? null : key.subarray(0, MAX_DEAD_LETTER_KEY_BYTES),
          value: letter.value === null || tooLarge ? null : Buffer.from(letter.value),
          headers: {
            [DLQ_HEADERS.reason]: letter.reason,
            [DLQ_HEADERS.detail]: (tooLarge
              ? `${letter.detail} (value of ${
                letter.value!.byteLength
              } bytes not copied: read it at its origin)`
              : letter.detail).slice(0, 4096),
            ...(tooLarge ? { [DLQ_HEADERS.valueBytes]: String(letter.value!.byteLength) } : {}),
            [DLQ_HEADERS.topic]: letter.topic,
            [DLQ_HEADERS.partition]: String(letter.partition),
            [DLQ_HEADERS.offset]: String(letter.offset),
            [DLQ_HEADERS.service]: this.#service,
          },
        };
      }),
    });
    for (const letter of letters) deadLetters.inc({ topic: letter.topic, reason: letter.reason });
  }
}
