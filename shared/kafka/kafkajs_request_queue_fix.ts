/**
 * A workaround for kafkajs 2.2.4's request queue, which keeps a 1 ms timer running on every
 * broker connection for as long as the connection lives, and so prints
 * `TimeoutNegativeWarning: -17956... is a negative number` on stderr of every process.
 *
 * After each response, `RequestQueue.scheduleCheckPendingRequests()` schedules the next look
 * at its pending queue in `throttledUntil - Date.now()` ms. `throttledUntil` starts at -1 (no
 * client-side throttling ever happened), so the delay is minus the epoch time; Node's timers
 * (which Deno implements for npm packages) warn about a negative delay and use 1 ms. The
 * callback schedules itself again the same way, so an idle connection polls an empty queue
 * about every millisecond until it is closed (tulios/kafkajs#1704, #1751; not fixed in any
 * kafkajs release). It is the library's bug, under Node >= 23 as under Deno; our settings
 * cannot avoid it, since `throttledUntil` is internal.
 *
 * The fix skips the scheduling when nothing is pending. That is what the method is for: it
 * makes sure a queued request is sent once the throttle or the in-flight limit allows it.
 * A request that is queued later schedules its own check (`push()`), and every response or
 * timeout checks the queue too, so no request waits longer than before. The patch is applied
 * to kafkajs's class in memory, once, by {@linkcode createKafka}; node_modules stays as
 * installed.
 *
 * @module
 */
import RequestQueue from "kafkajs/src/network/requestQueue/index.js";

/** The part of kafkajs's internal RequestQueue (src/network/requestQueue) the fix touches. */
interface RequestQueuePrototype {
  pending: unknown[];
  scheduleCheckPendingRequests(this: RequestQueuePrototype): void;
  [FIXED]?: true;
}

const FIXED = Symbol.for("trading.kafkajsRequestQueueFix");

/**
 * Makes kafkajs's request queue schedule a check of its pending requests only when there is
 * one (see the module comment). Idempotent; throws when the kafkajs in use has no such queue.
 */
export function applyKafkaJsRequestQueueFix(): void {
  const prototype = (RequestQueue as { prototype?: RequestQueuePrototype }).prototype;
  const original = prototype?.scheduleCheckPendingRequests;
  if (prototype === undefined || typeof original !== "function") {
    throw new Error(
      "Unsupported kafkajs version: expected 2.2.x with RequestQueue.scheduleCheckPendingRequests",
    );
  }
  if (prototype[FIXED]) return;
  prototype[FIXED] = true;
  prototype.scheduleCheckPendingRequests = function () {
    if (this.pending.length === 0) return;
    original.call(this);
  };
}
