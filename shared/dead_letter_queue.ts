/**
 * Dead letters: a message that cannot be decoded or fails validation is copied, key and
 * value unchanged, to `orders.dlq` with headers naming the reason and where it came from, and
 * counted in `/metrics`. The consumer that found it goes on with the next message: one bad
 * message never stops a partition, and nothing is dropped silently.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Producer } from "kafkajs";
import { TOPICS } from "./kafka.ts";
import { counter } from "./metrics.ts";
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
} as const;

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
  #producer: Producer;
  #service: string;

  constructor(producer: Producer, service: string) {
    this.#producer = producer;
    this.#service = service;
  }

  /** Sends `letters` to `orders.dlq` (acks=-1) and counts them; resolves once acknowledged. */
  async send(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    await this.#producer.send({
      topic: TOPICS.dlq,
      acks: -1,
      messages: letters.map((letter) => ({
        key: letter.key === null ? null : Buffer.from(letter.key),
        value: letter.value === null ? null : Buffer.from(letter.value),
        headers: {
          [DLQ_HEADERS.reason]: letter.reason,
          [DLQ_HEADERS.detail]: letter.detail,
          [DLQ_HEADERS.topic]: letter.topic,
          [DLQ_HEADERS.partition]: String(letter.partition),
          [DLQ_HEADERS.offset]: String(letter.offset),
          [DLQ_HEADERS.service]: this.#service,
        },
      })),
    });
    for (const letter of letters) deadLetters.inc({ topic: letter.topic, reason: letter.reason });
  }
}
