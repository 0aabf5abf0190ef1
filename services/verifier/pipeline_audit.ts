/**
 * The verifier's bookkeeping, without Kafka: commands and events go in, the report of
 * docs/DESIGN.md's guarantee comes out (no order id with two events, no command without an
 * event), with the end-to-end latency of every event (tick created to event created).
 *
 * @module
 */
import { OrderStatus } from "@trading/proto";
import { decodeCommand } from "@trading/shared/command-schema";
import { decodeEvent } from "@trading/shared/event-schema";

/** How many example ids a report lists per problem. */
export const EXAMPLES = 10;

/** The verifier's findings. */
export interface VerifyReport {
  /** Command records read (re-emitted orders count each time). */
  commandRecords: number;
  /** Distinct order ids among the valid commands. */
  uniqueCommands: number;
  /** Command records the executor rightly dead-letters (undecodable or invalid). */
  invalidCommands: number;
  /** Event records read. */
  events: number;
  /** Distinct order ids among the events. */
  uniqueOrderIds: number;
  invalidEvents: number;
  /** Order ids with more than one event, and the first few of them. */
  duplicates: number;
  duplicateIds: string[];
  /** Commands without an event, and the first few. */
  lost: number;
  lostIds: string[];
  /** Events without a command, and the first few. */
  orphans: number;
  orphanIds: string[];
  accepted: number;
  rejected: number;
  rejectReasons: Record<string, number>;
  /** Events per executor id (first event of each order id). */
  executors: Record<string, number>;
  /** Tick created to event created, over unique events; null without events. */
  latencyMs: { p50: number; p99: number; max: number } | null;
  /** True when both topics were read to their end and stayed there for the quiet period. */
  complete: boolean;
  elapsedMs: number;
  /** No duplicates and nothing lost. */
  ok: boolean;
}

/** Returns the `q` quantile (0-1) of sorted `values` (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

/** Accumulates commands and events and reports on them. */
export class PipelineAudit {
  #commandRecords = 0;
  #invalidCommands = 0;
  #commands = new Set<string>();
  #eventRecords = 0;
  #invalidEvents = 0;
  #events = new Map<string, number>();
  #latencyUs = new Map<string, number>();
  #accepted = 0;
  #rejected = 0;
  #reasons: Record<string, number> = {};
  #executors: Record<string, number> = {};

  /** Adds one `orders.commands` record value. */
  addCommand(value: Uint8Array | null): void {
    this.#commandRecords++;
    try {
      this.#commands.add(decodeCommand(value).orderId);
    } catch {
      this.#invalidCommands++;
    }
  }

  /** Adds one `orders.events` record value. */
  addEvent(value: Uint8Array | null): void {
    this.#eventRecords++;
    let event;
    try {
      event = decodeEvent(value);
    } catch {
      this.#invalidEvents++;
      return;
    }
    const seen = this.#events.get(event.orderId) ?? 0;
    this.#events.set(event.orderId, seen + 1);
    if (seen > 0) return;
    this.#latencyUs.set(event.orderId, event.createdAtUs - event.tickCreatedAtUs);
    this.#executors[event.executorId] = (this.#executors[event.executorId] ?? 0) + 1;
    if (event.status === OrderStatus.ORDER_STATUS_ACCEPTED) {
      this.#accepted++;
    } else {
      this.#rejected++;
      this.#reasons[event.reason] = (this.#reasons[event.reason] ?? 0) + 1;
    }
  }

  /** The number of valid commands that have no event yet. */
  get lost(): number {
    let lost = 0;
    for (const id of this.#commands) if (!this.#events.has(id)) lost++;
    return lost;
  }

  /** The report, as of now. */
  report({ complete, elapsedMs }: { complete: boolean; elapsedMs: number }): VerifyReport {
    const duplicateIds = [...this.#events].filter(([, n]) => n > 1).map(([id]) => id);
    const lostIds = [...this.#commands].filter((id) => !this.#events.has(id));
    const orphanIds = [...this.#events.keys()].filter((id) => !this.#commands.has(id));
    const latencies = [...this.#latencyUs.values()].map((us) => us / 1000).sort((a, b) => a - b);
    const round = (ms: number) => Math.round(ms * 1000) / 1000;
    return {
      commandRecords: this.#commandRecords,
      uniqueCommands: this.#commands.size,
      invalidCommands: this.#invalidCommands,
      events: this.#eventRecords,
      uniqueOrderIds: this.#events.size,
      invalidEvents: this.#invalidEvents,
      duplicates: duplicateIds.length,
      duplicateIds: duplicateIds.slice(0, EXAMPLES),
      lost: lostIds.length,
      lostIds: lostIds.slice(0, EXAMPLES),
      orphans: orphanIds.length,
      orphanIds: orphanIds.slice(0, EXAMPLES),
      accepted: this.#accepted,
      rejected: this.#rejected,
      rejectReasons: { ...this.#reasons },
      executors: { ...this.#executors },
      latencyMs: latencies.length === 0 ? null : {
        p50: round(quantile(latencies, 0.5)),
        p99: round(quantile(latencies, 0.99)),
        max: round(latencies.at(-1)!),
      },
      complete,
      elapsedMs: Math.round(elapsedMs),
      ok: duplicateIds.length === 0 && lostIds.length === 0,
    };
  }
}
