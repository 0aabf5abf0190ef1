/**
 * The replicated state machine of raft-node: the order de-duplication table. Pure and
 * deterministic (the same entries in the same order give the same table on every node), with
 * a compact, versioned binary encoding for commands (log entry data) and snapshots.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { OrderStatus } from "@trading/proto/orders";

/** The outcome of an order as recorded: the proto `Outcome` (status and reason). */
export interface OrderOutcome {
  readonly status: OrderStatus;
  /** Empty when accepted; the rule that rejected it otherwise (e.g. "max_position"). */
  readonly reason: string;
}

/** The command carried by a normal log entry: one `ApplyRequest` with its payload hashed. */
export interface ApplyCommand {
  readonly orderId: string;
  /** {@linkcode hashPayload} of the serialized order command. */
  readonly payloadHash: Uint8Array;
  /** What the executor decided. */
  readonly outcome: OrderOutcome;
  readonly symbol: string;
  /** Signed change of the symbol's position if the order is accepted. */
  readonly positionDelta: number;
  /** When > 0 and the outcome is accepted: the bound on |position(symbol)| after the order. */
  readonly maxPosition: number;
}

/** What the table remembers of an order id. */
export interface OrderRecord {
  readonly outcome: OrderOutcome;
  readonly payloadHash: Uint8Array;
  /** The Raft index at which the order was first applied. */
  readonly index: number;
}

/**
 * The result of applying a command:
 * - `applied`: first time this id is seen; `outcome` is what was stored (which may be a
 *   rejection with reason "max_position" even though the command said accepted);
 * - `duplicate`: same id and same payload hash; `outcome` and `index` are those stored first;
 * - `conflict`: same id with a different payload hash; nothing changes, `outcome` and
 *   `index` are those stored first.
 */
export interface ApplyOutcome {
  readonly result: "applied" | "duplicate" | "conflict";
  readonly outcome: OrderOutcome;
  /** The Raft index of the stored record. */
  readonly index: number;
}

/** The reason stored when the position check rejects an accepted order. */
export const MAX_POSITION_REASON = "max_position";

/** Bytes of {@linkcode hashPayload}'s result. */
export const PAYLOAD_HASH_BYTES = 16;

/**
 * The de-duplication table: order id -> outcome, payload hash and Raft index, plus the
 * position of every symbol. Apply entries in log order with {@linkcode applyEntry}.
 *
 * Invariant: `appliedIndex` is the index of the last entry applied (or restored); every
 * stored record has `index <= appliedIndex`.
 */
export class OrderStateMachine {
  #orders = new Map<string, StoredOrder>();
  #positions = new Map<string, number>();
  #appliedIndex = 0;
  /** One object per distinct outcome, shared by every order that has it. */
  #outcomes = new Map<string, OrderOutcome>();
  /** A received snapshot parsed before it was persisted ({@linkcode stageSnapshot}). */
  #staged: { bytes: Uint8Array; parsed: ParsedSnapshot } | undefined;

  /** The index of the last entry applied or restored. */
  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  /** How many order ids are stored. */
  get size(): number {
    return this.#orders.size;
  }

  /**
   * Applies the data of the normal entry at `index` (which must be above `appliedIndex`).
   * Empty data (a leader's no-op) only advances `appliedIndex` and returns undefined.
   */
  applyEntry(index: number, data: Uint8Array): ApplyOutcome | undefined {
    if (data.length === 0) {
      this.#advanceTo(index);
      return undefined;
    }
    let command: ApplyCommand;
    try {
      command = decodeCommand(data);
    } catch (error) {
      // Every member decodes the same bytes the same way: each skips the entry, and their
      // tables stay the same. Throwing on would stop the node at this entry on every start.
      this.#advanceTo(index);
      throw new UndecodableCommandError(index, error);
    }
    return this.apply(index, command);
  }

  /** Marks a non-command entry (a config entry) at `index` as applied. */
  skip(index: number): void {
    this.#advanceTo(index);
  }

  /** Applies `command` as the entry at `index` (which must be above `appliedIndex`). */
  apply(index: number, command: ApplyCommand): ApplyOutcome {
    this.#advanceTo(index);
    const hash = hashToString(command.payloadHash);
    const existing = this.#orders.get(command.orderId);
    if (existing !== undefined) {
      const same = existing.hash === hash;
      return {
        result: same ? "duplicate" : "conflict",
        outcome: existing.outcome,
        index: existing.index,
      };
    }
    let outcome = command.outcome;
    if (outcome.status === OrderStatus.ORDER_STATUS_ACCEPTED && command.positionDelta !== 0) {
      const position = (this.#positions.get(command.symbol) ?? 0) + command.positionDelta;
      if (command.maxPosition > 0 && Math.abs(position) > command.maxPosition) {
        outcome = { status: OrderStatus.ORDER_STATUS_REJECTED, reason: MAX_POSITION_REASON };
      } else {
        this.#positions.set(command.symbol, position);
      }
    }
    outcome = this.#intern(outcome.status, outcome.reason);
    this.#orders.set(command.orderId, { hash, outcome, index });
    return { result: "applied", outcome, index };
  }

  /** The stored record of `orderId`, or undefined when the id was never applied. */
  read(orderId: string): OrderRecord | undefined {
    const stored = this.#orders.get(orderId);
    if (stored === undefined) return undefined;
    return { outcome: stored.outcome, payloadHash: hashToBytes(stored.hash), index: stored.index };
  }

  #intern(status: OrderStatus, reason: string): OrderOutcome {
    const key = `${status}:${reason}`;
    let outcome = this.#outcomes.get(key);
    if (outcome === undefined) {
      outcome = { status, reason };
      this.#outcomes.set(key, outcome);
    }
    return outcome;
  }

  /** The position of `symbol` (0 when it never traded). */
  position(symbol: string): number {
    return this.#positions.get(symbol) ?? 0;
  }

  /**
   * Serializes the whole table (version 1): magic "OSM", version, applied index, orders
   * (id, hash, status, reason, index), positions (symbol, signed position).
   */
  snapshot(): Uint8Array {
    const w = new ByteWriter(64 + this.#orders.size * 48);
    w.bytesRaw(SNAPSHOT_MAGIC);
    w.byte(SNAPSHOT_VERSION);
    w.uvarint(this.#appliedIndex);
    w.uvarint(this.#orders.size);
    for (const [id, record] of this.#orders) {
      w.string(id);
      w.latin1(record.hash);
      w.uvarint(record.outcome.status);
      w.string(record.outcome.reason);
      w.uvarint(record.index);
    }
    w.uvarint(this.#positions.size);
    for (const [symbol, position] of this.#positions) {
      w.string(symbol);
      w.svarint(position);
    }
    return w.finish();
  }

  /**
   * Parses a received snapshot's bytes before they are persisted, and keeps the result for
   * the {@linkcode restore} of the same bytes. Throws when they are not a snapshot, or not
   * one at `index`.
   */
  stageSnapshot(bytes: Uint8Array, index: number): void {
    this.#staged = undefined;
    const parsed = parseSnapshot(bytes);
    if (parsed.applied !== index) {
      throw new Error(
        `Invalid state machine snapshot: its applied index ${parsed.applied} is not ${index}`,
      );
    }
    this.#staged = { bytes, parsed };
  }

  /** Replaces the whole table with a {@linkcode snapshot}'s bytes. */
  restore(bytes: Uint8Array): void {
    const staged = this.#staged;
    this.#staged = undefined;
    const { applied, orders, positions, outcomes } = staged?.bytes === bytes
      ? staged.parsed
      : parseSnapshot(bytes);
    this.#orders = orders;
    this.#positions = positions;
    this.#outcomes = outcomes;
    this.#appliedIndex = applied;
  }

  #advanceTo(index: number): void {
    if (index <= this.#appliedIndex) {
      throw new Error(
        `Invalid entry index ${index}: expected above the applied index ${this.#appliedIndex}`,
      );
    }
    this.#appliedIndex = index;
  }
}

/** Thrown by {@linkcode OrderStateMachine.applyEntry} for bytes that are not a command; the entry counts as applied. */
export class UndecodableCommandError extends Error {
  readonly index: number;
  constructor(index: number, cause: unknown) {
    super(
      `Undecodable command in entry ${index}: ${cause instanceof Error ? cause.message : cause}`,
      { cause },
    );
    this.name = "UndecodableCommandError";
    this.index = index;
  }
}

interface ParsedSnapshot {
  applied: number;
  orders: Map<string, StoredOrder>;
  positions: Map<string, number>;
  outcomes: Map<string, OrderOutcome>;
}

/** Decodes {@linkcode OrderStateMachine.snapshot}'s bytes; throws on anything else. */
function parseSnapshot(bytes: Uint8Array): ParsedSnapshot {
  const r = new ByteReader(bytes, "state machine snapshot");
  for (const b of SNAPSHOT_MAGIC) {
    if (r.byte() !== b) throw new Error("Invalid state machine snapshot: expected magic OSM");
  }
  const version = r.byte();
  if (version !== SNAPSHOT_VERSION) {
    throw new Error(
      `Unsupported state machine snapshot version ${version}: expected ${SNAPSHOT_VERSION}`,
    );
  }
  const applied = r.uvarint();
  const orders = new Map<string, StoredOrder>();
  const outcomes = new Map<string, OrderOutcome>();
  for (let n = r.uvarint(); n > 0; n--) {
    const id = r.string();
    const hash = r.latin1();
    const status = r.uvarint() as OrderStatus;
    const reason = r.string();
    const key = `${status}:${reason}`;
    let outcome = outcomes.get(key);
    if (outcome === undefined) {
      outcome = { status, reason };
      outcomes.set(key, outcome);
    }
    orders.set(id, { hash, outcome, index: r.uvarint() });
  }
  const positions = new Map<string, number>();
  for (let n = r.uvarint(); n > 0; n--) positions.set(r.string(), r.svarint());
  r.end();
  return { applied, orders, positions, outcomes };
}

/**
 * An order as the table keeps it. At a million orders the table is most of a node's memory,
 * so the hash is a one-byte-per-char string (a 16-byte `Uint8Array` costs several times that
 * in V8, with its own ArrayBuffer) and the outcome is shared ({@linkcode OrderStateMachine}
 * interns them): about 200 bytes of heap per order instead of 350.
 */
interface StoredOrder {
  /** The payload hash, one char per byte (codes 0-255). */
  readonly hash: string;
  readonly outcome: OrderOutcome;
  readonly index: number;
}

function hashToString(hash: Uint8Array): string {
  return charCodes(hash);
}

/**
 * A string of one char per byte. `apply` with the typed array itself, not a spread: a spread
 * builds an argument list element by element, five times slower when restoring a snapshot of
 * a million ids.
 */
function charCodes(bytes: Uint8Array): string {
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
}

function hashToBytes(hash: string): Uint8Array {
  const bytes = new Uint8Array(hash.length);
  for (let i = 0; i < hash.length; i++) bytes[i] = hash.charCodeAt(i);
  return bytes;
}

const SNAPSHOT_MAGIC = new Uint8Array([0x4f, 0x53, 0x4d]); // "OSM"
const SNAPSHOT_VERSION = 1;
const COMMAND_VERSION = 1;

/**
 * Encodes a command as the data of a log entry (version 1): a version byte, then order id,
 * payload hash, status, reason, symbol, position delta (signed varint) and max position, with
 * varint lengths. About 40 bytes for a typical order.
 */
export function encodeCommand(command: ApplyCommand): Uint8Array {
  const w = new ByteWriter(
    24 + command.orderId.length * 3 + command.payloadHash.length +
      command.outcome.reason.length * 3 + command.symbol.length * 3,
  );
  w.byte(COMMAND_VERSION);
  w.string(command.orderId);
  w.bytes(command.payloadHash);
  w.uvarint(command.outcome.status);
  w.string(command.outcome.reason);
  w.string(command.symbol);
  w.svarint(command.positionDelta);
  w.uvarint(command.maxPosition);
  return w.finish();
}

/** Decodes {@linkcode encodeCommand}'s bytes; throws on anything else. */
export function decodeCommand(bytes: Uint8Array): ApplyCommand {
  const r = new ByteReader(bytes, "command");
  const version = r.byte();
  if (version !== COMMAND_VERSION) {
    throw new Error(`Unsupported command version ${version}: expected ${COMMAND_VERSION}`);
  }
  const orderId = r.string();
  const payloadHash = r.bytes();
  const status = r.uvarint() as OrderStatus;
  const reason = r.string();
  const symbol = r.string();
  const positionDelta = r.svarint();
  const maxPosition = r.uvarint();
  r.end();
  return { orderId, payloadHash, outcome: { status, reason }, symbol, positionDelta, maxPosition };
}

/**
 * The payload hash stored per order: the first 16 bytes of SHA-256 (collision-resistant, so
 * a reused id with another payload is always a conflict). Synchronous, for the apply path.
 */
export function hashPayload(payload: Uint8Array): Uint8Array {
  const digest = createHash("sha256").update(payload).digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, PAYLOAD_HASH_BYTES).slice();
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

/** A growable little buffer with unsigned/zigzag varints (numbers up to 2^53). */
class ByteWriter {
  #buf: Uint8Array;
  #pos = 0;

  constructor(capacity: number) {
    this.#buf = new Uint8Array(Math.max(16, capacity));
  }

  #reserve(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#pos + n));
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
  }

  byte(b: number): void {
    this.#reserve(1);
    this.#buf[this.#pos++] = b;
  }

  uvarint(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new Error(`Invalid unsigned integer ${n}: expected a safe integer >= 0`);
    }
    this.#reserve(8);
    // Division rather than bit operators: these are 53-bit numbers, not 32-bit ones.
    while (n >= 0x80) {
      this.#buf[this.#pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.#buf[this.#pos++] = n;
  }

  /**
   * A signed varint: the first byte holds continuation, sign and the low 6 bits of the
   * magnitude, then the rest of the magnitude as an unsigned varint. (Zigzag would need 54
   * bits for the extremes of a 53-bit number.)
   */
  svarint(n: number): void {
    if (!Number.isSafeInteger(n)) throw new Error(`Invalid integer ${n}: expected a safe integer`);
    const magnitude = Math.abs(n);
    const low = magnitude % 0x40;
    const rest = Math.floor(magnitude / 0x40);
    this.byte((rest > 0 ? 0x80 : 0) | (n < 0 ? 0x40 : 0) | low);
    if (rest > 0) this.uvarint(rest);
  }

  bytesRaw(b: Uint8Array): void {
    this.#reserve(b.length);
    this.#buf.set(b, this.#pos);
    this.#pos += b.length;
  }

  bytes(b: Uint8Array): void {
    this.uvarint(b.length);
    this.bytesRaw(b);
  }

  /** Bytes given as a string of char codes 0-255, written like {@linkcode bytes}. */
  latin1(s: string): void {
    this.uvarint(s.length);
    this.#reserve(s.length);
    for (let i = 0; i < s.length; i++) this.#buf[this.#pos++] = s.charCodeAt(i);
  }

  string(s: string): void {
    // ASCII fast path: ids and symbols are ASCII in practice.
    let ascii = s.length < 0x80;
    for (let i = 0; ascii && i < s.length; i++) if (s.charCodeAt(i) >= 0x80) ascii = false;
    if (ascii) {
      this.#reserve(1 + s.length);
      this.#buf[this.#pos++] = s.length;
      for (let i = 0; i < s.length; i++) this.#buf[this.#pos++] = s.charCodeAt(i);
      return;
    }
    this.bytes(textEncoder.encode(s));
  }

  finish(): Uint8Array {
    return this.#buf.slice(0, this.#pos);
  }
}

/** Reads what {@linkcode ByteWriter} wrote; every read is bounds-checked. */
class ByteReader {
  #pos = 0;

  constructor(readonly buf: Uint8Array, readonly what: string) {}

  #truncated(): Error {
    return new Error(`Invalid ${this.what}: expected more than ${this.buf.length} bytes`);
  }

  byte(): number {
    const b = this.buf[this.#pos++];
    if (b === undefined) throw this.#truncated();
    return b;
  }

  uvarint(): number {
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte();
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 0x80;
    }
    throw new Error(`Invalid ${this.what}: expected a varint of at most 8 bytes`);
  }

  svarint(): number {
    const first = this.byte();
    let magnitude = first & 0x3f;
    if (first & 0x80) magnitude += this.uvarint() * 0x40;
    return first & 0x40 ? -magnitude : magnitude;
  }

  bytes(): Uint8Array {
    const n = this.uvarint();
    if (this.#pos + n > this.buf.length) throw this.#truncated();
    const b = this.buf.slice(this.#pos, this.#pos + n);
    this.#pos += n;
    return b;
  }

  /** What {@linkcode ByteWriter.latin1} wrote: bytes as a string of char codes 0-255. */
  latin1(): string {
    const n = this.uvarint();
    if (this.#pos + n > this.buf.length) throw this.#truncated();
    const start = this.#pos;
    this.#pos += n;
    return charCodes(this.buf.subarray(start, this.#pos));
  }

  string(): string {
    const n = this.uvarint();
    if (this.#pos + n > this.buf.length) throw this.#truncated();
    const start = this.#pos;
    this.#pos += n;
    let ascii = true;
    for (let i = start; i < this.#pos; i++) if (this.buf[i]! >= 0x80) ascii = false;
    if (ascii && n < 64) return charCodes(this.buf.subarray(start, this.#pos));
    return textDecoder.decode(this.buf.subarray(start, this.#pos));
  }

  end(): void {
    if (this.#pos !== this.buf.length) {
      throw new Error(
        `Invalid ${this.what}: expected ${this.#pos} bytes, got ${this.buf.length}`,
      );
    }
  }
}
