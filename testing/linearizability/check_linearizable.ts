/**
 * A linearizability checker for order de-duplication histories, after Porcupine
 * (anishathalye/porcupine): Wing & Gong's search with Lowe's memoization of (linearized set,
 * state), run separately on each order id (P-compositionality: a history is linearizable iff
 * every per-key sub-history is, because operations on different order ids commute).
 *
 * @module
 */
import type {
  ApplyInput,
  ApplyOutput,
  History,
  HistoryOutcome,
  Operation,
  ReadOutput,
} from "./history.ts";

/** `OrderStatus.ORDER_STATUS_ACCEPTED` / `_REJECTED` of raft.proto. */
const ACCEPTED = 1;
const REJECTED = 2;
const MAX_POSITION: HistoryOutcome = { status: REJECTED, reason: "max_position" };

/**
 * What the store holds for one order id: nothing, or the first payload hash with the
 * outcomes it may have stored (two while an Apply with a position check is unobserved).
 */
type KeyState =
  | undefined
  | { readonly payloadHash: string; readonly outcomes: readonly HistoryOutcome[] };

/** The result of {@linkcode checkLinearizable}. */
export type LinearizabilityResult =
  | {
    readonly ok: true;
    /** Order ids checked. */
    readonly partitions: number;
    readonly operations: number;
  }
  | {
    readonly ok: false;
    readonly partitions: number;
    readonly operations: number;
    /** The order id of the smallest partition that has no linearization. */
    readonly orderId: string;
    /** That partition's operations, by call time. */
    readonly history: readonly Operation[];
    /** The longest prefix of a linearization the search found for it. */
    readonly longestLinearizable: readonly Operation[];
    /** A readable account of the failure, one operation per line. */
    readonly explanation: string;
  };

/** Options of {@linkcode checkLinearizable}. */
export interface CheckOptions {
  /** Search steps allowed per partition before giving up with an error. Default 10 million. */
  readonly maxStepsPerPartition?: number;
}

/**
 * Checks that `history` is linearizable against the de-duplication model: the first Apply
 * of an order id stores its payload hash and outcome and returns `applied`; a later Apply
 * returns `duplicate` (same hash) or `conflict` (other hash) with the stored outcome; a Read
 * returns the stored outcome or not-found. Operations without a return may take effect at
 * any time after their call, or never.
 *
 * @example
 * ```ts
 * const result = checkLinearizable(history);
 * if (!result.ok) throw new Error(result.explanation);
 * ```
 */
export function checkLinearizable(
  history: History,
  options: CheckOptions = {},
): LinearizabilityResult {
  const byOrder = new Map<string, Operation[]>();
  for (const op of history) {
    let ops = byOrder.get(op.orderId);
    if (ops === undefined) byOrder.set(op.orderId, ops = []);
    ops.push(op);
  }
  const maxSteps = options.maxStepsPerPartition ?? 10_000_000;
  let failure: { orderId: string; ops: Operation[]; longest: Operation[] } | undefined;
  for (const [orderId, ops] of byOrder) {
    if (failure !== undefined && ops.length >= failure.ops.length) continue;
    const result = checkPartition(ops, maxSteps, orderId);
    if (!result.ok) failure = { orderId, ops, longest: result.longest };
  }
  const partitions = byOrder.size;
  const operations = history.length;
  if (failure === undefined) return { ok: true, partitions, operations };
  const sorted = [...failure.ops].sort((a, b) => a.call - b.call);
  return {
    ok: false,
    partitions,
    operations,
    orderId: failure.orderId,
    history: sorted,
    longestLinearizable: failure.longest,
    explanation: explain(failure.orderId, sorted, failure.longest),
  };
}

/** A call or return event in the doubly linked list the search lifts operations out of. */
interface Node {
  readonly id: number; // operation number; -1 for the list head
  readonly op: Operation | undefined;
  /** For a call: its return node. For a return: undefined. */
  readonly match: Node | undefined;
  readonly isCall: boolean;
  prev: Node | undefined;
  next: Node | undefined;
}

function checkPartition(
  ops: readonly Operation[],
  maxSteps: number,
  orderId: string,
): { ok: true } | { ok: false; longest: Operation[] } {
  // Events by time; at equal times calls come first, so that touching operations count as
  // concurrent (the lenient reading of a coarse clock). Open operations return at +Infinity.
  const events: { time: number; isCall: boolean; id: number }[] = [];
  ops.forEach((op, id) => {
    events.push({ time: op.call, isCall: true, id });
    events.push({ time: op.return ?? Infinity, isCall: false, id });
  });
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));

  const head: Node = {
    id: -1,
    op: undefined,
    match: undefined,
    isCall: false,
    prev: undefined,
    next: undefined,
  };
  const returns = new Map<number, Node>();
  let tail = head;
  // Build return nodes first so that calls can point at them.
  for (const e of events) {
    if (!e.isCall) {
      returns.set(e.id, {
        id: e.id,
        op: ops[e.id],
        match: undefined,
        isCall: false,
        prev: undefined,
        next: undefined,
      });
    }
  }
  for (const e of events) {
    const node: Node = e.isCall
      ? {
        id: e.id,
        op: ops[e.id],
        match: returns.get(e.id),
        isCall: true,
        prev: undefined,
        next: undefined,
      }
      : returns.get(e.id)!;
    node.prev = tail;
    tail.next = node;
    tail = node;
  }

  const lift = (call: Node) => {
    call.prev!.next = call.next;
    if (call.next) call.next.prev = call.prev;
    const ret = call.match!;
    ret.prev!.next = ret.next;
    if (ret.next) ret.next.prev = ret.prev;
  };
  const unlift = (call: Node) => {
    const ret = call.match!;
    ret.prev!.next = ret;
    if (ret.next) ret.next.prev = ret;
    call.prev!.next = call;
    if (call.next) call.next.prev = call;
  };

  const earlierTwin = findEarlierTwins(ops);
  const linearized = new Bitset(ops.length);
  const cache = new Set<string>();
  const stack: { node: Node; state: KeyState }[] = [];
  let longest: Operation[] = [];
  let state: KeyState = undefined;
  let entry = head.next;
  let steps = 0;
  while (head.next !== undefined) {
    if (++steps > maxSteps) {
      throw new Error(
        `Linearizability search for order ${orderId} exceeded ${maxSteps} steps: expected a smaller or less concurrent history`,
      );
    }
    // Unreachable: every call's return follows it, so the walk meets a return first.
    if (entry === undefined) {
      throw new Error(`Linearizability search for order ${orderId} ran off the event list`);
    }
    if (entry.isCall) {
      const op = entry.op!;
      if (op.return === undefined) {
        // An open operation whose effect is nil here (a read, or an Apply once the id is
        // stored) commutes with everything: it can always go last, so never branch on it.
        // Of identical open Applies (a client's retries), only try the earliest called one:
        // any linearization using a later twin works with the earlier one in its place.
        const twin = earlierTwin[entry.id]!;
        if (op.op === "read" || state !== undefined || (twin >= 0 && !linearized.has(twin))) {
          entry = entry.next;
          continue;
        }
      }
      const next = stepModel(state, op);
      if (next.ok) {
        linearized.set(entry.id);
        const key = linearized.key() + "|" + stateKey(next.state);
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ node: entry, state });
          if (stack.length > longest.length) longest = stack.map((s) => s.node.op!);
          state = next.state;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized.clear(entry.id);
      }
      entry = entry.next;
    } else {
      // Only open operations are left (they return at +Infinity, after everything else), and
      // each may take effect last or never: done.
      if (entry.op!.return === undefined) return { ok: true };
      // An operation returned before we could place it: undo the last choice.
      const top = stack.pop();
      if (top === undefined) return { ok: false, longest };
      state = top.state;
      linearized.clear(top.node.id);
      unlift(top.node);
      entry = top.node.next;
    }
  }
  return { ok: true };
}

/**
 * For each open Apply, the latest earlier-called open Apply with the same input (-1 if
 * none); for every other operation -1.
 */
function findEarlierTwins(ops: readonly Operation[]): number[] {
  const twins = ops.map(() => -1);
  const lastByInput = new Map<string, number>();
  const order = ops.map((_, i) => i).sort((a, b) => ops[a]!.call - ops[b]!.call);
  for (const i of order) {
    const op = ops[i]!;
    if (op.op !== "apply" || op.return !== undefined) continue;
    const key = `${op.input.payloadHash}/${op.input.outcome.status}:${op.input.outcome.reason}/${
      op.input.positionChecked === true
    }`;
    twins[i] = lastByInput.get(key) ?? -1;
    lastByInput.set(key, i);
  }
  return twins;
}

/** The de-duplication model: the state after `op`, if `op`'s output is possible from `state`. */
function stepModel(state: KeyState, op: Operation): { ok: true; state: KeyState } | { ok: false } {
  if (op.op === "apply") return stepApply(state, op.input, op.output);
  return stepRead(state, op.output);
}

function stepApply(
  state: KeyState,
  input: ApplyInput,
  output: ApplyOutput | undefined,
): { ok: true; state: KeyState } | { ok: false } {
  if (state === undefined) {
    const possible = input.positionChecked && input.outcome.status === ACCEPTED
      ? [input.outcome, MAX_POSITION]
      : [input.outcome];
    if (output === undefined) {
      return { ok: true, state: { payloadHash: input.payloadHash, outcomes: possible } };
    }
    if (output.result !== "applied") return { ok: false };
    if (!possible.some((o) => sameOutcome(o, output.outcome))) return { ok: false };
    return { ok: true, state: { payloadHash: input.payloadHash, outcomes: [output.outcome] } };
  }
  if (output === undefined) return { ok: true, state };
  const expected = state.payloadHash === input.payloadHash ? "duplicate" : "conflict";
  if (output.result !== expected) return { ok: false };
  return pin(state, output.outcome);
}

function stepRead(
  state: KeyState,
  output: ReadOutput | undefined,
): { ok: true; state: KeyState } | { ok: false } {
  if (output === undefined) return { ok: true, state };
  if (state === undefined) return output.found ? { ok: false } : { ok: true, state };
  if (!output.found) return { ok: false };
  if (output.payloadHash !== undefined && output.payloadHash !== state.payloadHash) {
    return { ok: false };
  }
  return pin(state, output.outcome);
}

/** Narrows the possible stored outcomes to the one observed. */
function pin(
  state: NonNullable<KeyState>,
  observed: HistoryOutcome,
): { ok: true; state: KeyState } | { ok: false } {
  if (!state.outcomes.some((o) => sameOutcome(o, observed))) return { ok: false };
  if (state.outcomes.length === 1) return { ok: true, state };
  return { ok: true, state: { payloadHash: state.payloadHash, outcomes: [observed] } };
}

function sameOutcome(a: HistoryOutcome, b: HistoryOutcome): boolean {
  return a.status === b.status && a.reason === b.reason;
}

function stateKey(state: KeyState): string {
  if (state === undefined) return "-";
  return state.payloadHash + "/" + state.outcomes.map((o) => `${o.status}:${o.reason}`).join(",");
}

/** A fixed-size bit set with a string key for the memo table. */
class Bitset {
  readonly #words: Uint32Array;
  constructor(size: number) {
    this.#words = new Uint32Array(Math.ceil(size / 32) || 1);
  }
  set(i: number): void {
    this.#words[i >>> 5]! |= 1 << (i & 31);
  }
  has(i: number): boolean {
    return (this.#words[i >>> 5]! & (1 << (i & 31))) !== 0;
  }
  clear(i: number): void {
    this.#words[i >>> 5]! &= ~(1 << (i & 31));
  }
  key(): string {
    return this.#words.join(",");
  }
}

function describe(op: Operation): string {
  const span = `[${op.call} .. ${op.return ?? "open"}]`;
  const who = `client ${op.clientId}`;
  if (op.op === "apply") {
    const o = op.input.outcome;
    const out = op.output === undefined
      ? "unknown (timed out)"
      : `${op.output.result} ${op.output.outcome.status}:${op.output.outcome.reason}`;
    return `${span} ${who} apply(hash ${op.input.payloadHash}, ${o.status}:${o.reason}) -> ${out}`;
  }
  const out = op.output === undefined
    ? "unknown"
    : op.output.found
    ? `found ${op.output.outcome.status}:${op.output.outcome.reason}`
    : "not found";
  return `${span} ${who} read -> ${out}`;
}

function explain(
  orderId: string,
  ops: readonly Operation[],
  longest: readonly Operation[],
): string {
  const placed = new Set(longest);
  const lines = [
    `Order ${orderId}: no linearization of its ${ops.length} operations exists.`,
    `Operations by call time:`,
    ...ops.map((op) => `  ${placed.has(op) ? " " : "!"} ${describe(op)}`),
    `Longest linearizable prefix (${longest.length}):`,
    ...longest.map((op, i) => `  ${i + 1}. ${describe(op)}`),
    `Operations marked ! could not be placed after that prefix.`,
  ];
  return lines.join("\n");
}
