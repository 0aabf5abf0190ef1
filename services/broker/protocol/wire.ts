/**
 * Binary primitives of the Kafka protocol: big-endian integers, zig-zag varints, unsigned
 * varints, classic (int16/int32 length) and compact (uvarint length + 1) strings, bytes and
 * arrays, UUIDs and tagged-field sections of flexible versions.
 *
 * @module
 */

/** Thrown when bytes do not decode: truncated input or an impossible length. */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecodeError";
  }
}

const textDecoder = new TextDecoder("utf-8", { fatal: false });
const textEncoder = new TextEncoder();

/** Reads Kafka primitives from a byte array, bounds-checked; throws {@linkcode DecodeError}. */
export class Reader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  pos: number;
  readonly end: number;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
    this.end = end;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number): number {
    const at = this.pos;
    if (n < 0 || at + n > this.end) {
      throw new DecodeError(
        `Truncated input: needed ${n} bytes at offset ${at}, ${this.end - at} left`,
      );
    }
    this.pos = at + n;
    return at;
  }

  int8(): number {
    return this.view.getInt8(this.need(1));
  }
  int16(): number {
    return this.view.getInt16(this.need(2));
  }
  uint16(): number {
    return this.view.getUint16(this.need(2));
  }
  int32(): number {
    return this.view.getInt32(this.need(4));
  }
  uint32(): number {
    return this.view.getUint32(this.need(4));
  }
  /** An int64 as a number; exact up to 2^53, which covers offsets, ids and timestamps here. */
  int64(): number {
    const at = this.need(8);
    const high = this.view.getInt32(at);
    const low = this.view.getUint32(at + 4);
    return high * 0x1_0000_0000 + low;
  }
  float64(): number {
    return this.view.getFloat64(this.need(8));
  }
  bool(): boolean {
    return this.bytes[this.need(1)] !== 0;
  }

  /** An unsigned LEB128 varint (up to 32 bits), as in compact lengths and tags. */
  uvarint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new DecodeError("Truncated varint");
      const byte = this.bytes[this.pos++]!;
      if (shift === 28 && byte > 0x0f) throw new DecodeError("Varint longer than 32 bits");
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
    }
  }
  /** A zig-zag varint (32-bit), as in record fields. */
  varint(): number {
    const raw = this.uvarint();
    return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
  }
  /** A zig-zag varlong, exact up to 2^53. */
  varlong(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new DecodeError("Truncated varlong");
      const byte = this.bytes[this.pos++]!;
      if (shift > 63) throw new DecodeError("Varlong longer than 64 bits");
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) break;
      shift += 7;
    }
    return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
  }

  uuid(): Uint8Array {
    const at = this.need(16);
    return this.bytes.slice(at, at + 16);
  }

  /** Raw bytes without copying. */
  raw(n: number): Uint8Array {
    const at = this.need(n);
    return this.bytes.subarray(at, at + n);
  }

  private utf8(n: number): string {
    const at = this.need(n);
    return textDecoder.decode(this.bytes.subarray(at, at + n));
  }

  string(): string {
    const s = this.nullableString();
    if (s === null) throw new DecodeError("Null string where a string is required");
    return s;
  }
  nullableString(): string | null {
    const n = this.int16();
    if (n < -1) throw new DecodeError(`Invalid string length ${n}`);
    return n === -1 ? null : this.utf8(n);
  }
  compactString(): string {
    const s = this.compactNullableString();
    if (s === null) throw new DecodeError("Null compact string where a string is required");
    return s;
  }
  compactNullableString(): string | null {
    const n = this.uvarint() - 1;
    return n === -1 ? null : this.utf8(n);
  }
  /** Bytes as a view into the input, not a copy. */
  nullableBytes(): Uint8Array | null {
    const n = this.int32();
    if (n < -1) throw new DecodeError(`Invalid bytes length ${n}`);
    return n === -1 ? null : this.raw(n);
  }
  compactNullableBytes(): Uint8Array | null {
    const n = this.uvarint() - 1;
    return n === -1 ? null : this.raw(n);
  }
  /** An array length (int32), -1 for null; rejects lengths the remaining bytes cannot hold. */
  arrayLength(): number {
    const n = this.int32();
    if (n < -1 || n > this.remaining) throw new DecodeError(`Invalid array length ${n}`);
    return n;
  }
  compactArrayLength(): number {
    const n = this.uvarint() - 1;
    if (n > this.remaining) throw new DecodeError(`Invalid compact array length ${n}`);
    return n;
  }
}

/** Writes Kafka primitives into a growing buffer. */
export class Writer {
  private buf: Uint8Array;
  private view: DataView;
  pos = 0;

  constructor(initialSize = 256) {
    this.buf = new Uint8Array(initialSize);
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(n: number): number {
    const at = this.pos;
    if (at + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < at + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, at));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    this.pos = at + n;
    return at;
  }

  int8(v: number): this {
    const at = this.ensure(1);
    this.view.setInt8(at, v);
    return this;
  }
  int16(v: number): this {
    const at = this.ensure(2);
    this.view.setInt16(at, v);
    return this;
  }
  int32(v: number): this {
    const at = this.ensure(4);
    this.view.setInt32(at, v);
    return this;
  }
  uint32(v: number): this {
    const at = this.ensure(4);
    this.view.setUint32(at, v);
    return this;
  }
  int64(v: number): this {
    const at = this.ensure(8);
    const high = Math.floor(v / 0x1_0000_0000);
    this.view.setInt32(at, high);
    this.view.setUint32(at + 4, v - high * 0x1_0000_0000);
    return this;
  }
  float64(v: number): this {
    const at = this.ensure(8);
    this.view.setFloat64(at, v);
    return this;
  }
  bool(v: boolean): this {
    const at = this.ensure(1);
    this.buf[at] = v ? 1 : 0;
    return this;
  }
  uvarint(v: number): this {
    // ensure() may replace the buffer, so it runs before this.buf is read.
    while (v >= 0x80) {
      const at = this.ensure(1);
      this.buf[at] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    const at = this.ensure(1);
    this.buf[at] = v;
    return this;
  }
  varint(v: number): this {
    return this.uvarint(v >= 0 ? v * 2 : -v * 2 - 1);
  }
  varlong(v: number): this {
    return this.uvarint(v >= 0 ? v * 2 : -v * 2 - 1);
  }
  uuid(v: Uint8Array): this {
    if (v.length !== 16) throw new RangeError(`Invalid UUID of ${v.length} bytes: expected 16`);
    return this.raw(v);
  }
  raw(v: Uint8Array): this {
    const at = this.ensure(v.length);
    this.buf.set(v, at);
    return this;
  }

  private utf8(s: string, compact: boolean): this {
    // Worst case 3 bytes per UTF-16 unit; encode in place, then write the real length.
    const max = s.length * 3;
    const lengthSize = compact ? uvarintSize(max + 1) : 2;
    const at = this.ensure(lengthSize + max);
    const { written } = textEncoder.encodeInto(s, this.buf.subarray(at + lengthSize));
    this.pos = at;
    if (compact) this.uvarint(written + 1);
    else this.int16(written);
    if (this.pos !== at + lengthSize) {
      this.buf.copyWithin(this.pos, at + lengthSize, at + lengthSize + written);
    }
    this.pos += written;
    return this;
  }

  string(s: string): this {
    return this.utf8(s, false);
  }
  nullableString(s: string | null): this {
    return s === null ? this.int16(-1) : this.utf8(s, false);
  }
  compactString(s: string): this {
    return this.utf8(s, true);
  }
  compactNullableString(s: string | null): this {
    return s === null ? this.uvarint(0) : this.utf8(s, true);
  }
  nullableBytes(b: Uint8Array | null): this {
    return b === null ? this.int32(-1) : this.int32(b.length).raw(b);
  }
  compactNullableBytes(b: Uint8Array | null): this {
    return b === null ? this.uvarint(0) : this.uvarint(b.length + 1).raw(b);
  }

  /** Overwrites an int32 at `at` (for length prefixes written after the content). */
  patchInt32(at: number, v: number): void {
    this.view.setInt32(at, v);
  }

  /** The bytes written so far (a view, valid until the next write). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

/** The encoded size of an unsigned varint. */
export function uvarintSize(v: number): number {
  let size = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    size++;
  }
  return size;
}
