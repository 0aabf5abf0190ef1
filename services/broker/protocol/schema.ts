/**
 * A small schema language for Kafka messages, after the JSON message definitions in Apache
 * Kafka (clients/src/main/resources/common/message/*.json): each field has a type, the
 * versions it exists in, the versions in which it may be null, and optionally a tag for the
 * tagged-field section of flexible versions. One generic decoder and encoder walk a schema
 * for a given version, so supporting a new version is a matter of declaring its fields.
 *
 * @module
 */
import { DecodeError, type Reader, type Writer } from "./wire.ts";

/** A closed range of versions; `max` is Infinity for "N+". */
export interface VersionRange {
  min: number;
  max: number;
}

/** The primitive types of the Kafka message definitions. */
export type PrimitiveType =
  | "int8"
  | "int16"
  | "int32"
  | "int64"
  | "float64"
  | "bool"
  | "string"
  | "bytes"
  | "records"
  | "uuid";

/** The TypeScript value a primitive decodes to. */
interface PrimitiveValue {
  int8: number;
  int16: number;
  int32: number;
  int64: number;
  float64: number;
  bool: boolean;
  string: string;
  bytes: Uint8Array;
  records: Uint8Array;
  uuid: Uint8Array;
}

/**
 * A field: a primitive, an array of primitives, a struct or an array of structs. The type
 * parameters are kept by {@linkcode field} and {@linkcode structs} so that a message's
 * TypeScript types derive from its schema (the schema is the one source of them): `N` is its
 * name, `V` its decoded value ({@linkcode Decoded}), `E` the value a handler gives the encoder
 * ({@linkcode Encodable}) and `O` whether a handler may leave it out (it declares a default
 * or a tag).
 */
export interface Field<N extends string = string, V = unknown, E = V, O extends boolean = boolean> {
  name: N;
  type: PrimitiveType | readonly Field[];
  array: boolean;
  versions: VersionRange;
  nullable: VersionRange | undefined;
  tag: number | undefined;
  defaultValue: unknown;
  /** Type only (never set): the decoded value, the encodable value, whether it may be left out. */
  readonly types?: { decoded: V; encodable: E; omittable: O };
}

/** `V`, or `V | null` when the options make the field nullable. */
type NullableIf<V, O> = O extends { nullable: string } ? V | null : V;

/** Whether the options let a handler leave the field out: a declared default, or a tag. */
type OmittableIf<O> = O extends { default: unknown } | { tag: number } ? true : false;

/** The decoded value of a field. */
export type ValueOf<F> = F extends Field<string, infer V, unknown, boolean> ? V : never;

/** The value of a field that a handler gives the encoder. */
export type EncodableValueOf<F> = F extends Field<string, unknown, infer E, boolean> ? E
  : never;

/** The decoded object of a struct's (or a message's) fields: every field present. */
export type StructOf<F extends readonly Field[]> = {
  [P in F[number] as P["name"]]: ValueOf<P>;
};

/** Flattens an intersection of object types into one, for readable types and messages. */
type Flatten<T> = { [K in keyof T]: T[K] } & unknown;

/**
 * The object of a struct's (or a message's) fields that a handler gives the encoder: a field
 * that declares a default or a tag may be left out; every other field must be given.
 */
export type EncodableStructOf<F extends readonly Field[]> = Flatten<
  & {
    [P in F[number] as P extends Field<string, unknown, unknown, true> ? never : P["name"]]:
      EncodableValueOf<P>;
  }
  & {
    [P in F[number] as P extends Field<string, unknown, unknown, true> ? P["name"] : never]?:
      EncodableValueOf<P>;
  }
>;

/** The decoded body of a message schema: what {@linkcode decodeMessage} returns for it. */
export type Decoded<S extends MessageSchema> = StructOf<S["fields"]>;

/**
 * The body of a message schema as a handler builds it for {@linkcode encodeMessage}: fields
 * with a declared default or a tag may be left out (the encoder writes their default).
 */
export type Encodable<S extends MessageSchema> = EncodableStructOf<S["fields"]>;

/** The schema of one request or response body. */
export interface MessageSchema<F extends readonly Field[] = readonly Field[]> {
  name: string;
  fields: F;
  /** The first flexible version (compact encodings, tagged fields); Infinity if none. */
  flexibleFrom: number;
}

const NONE: VersionRange = { min: 1, max: 0 };

/** Parses "3+", "2-5", "4" or "none" into a range. */
export function versions(spec: string): VersionRange {
  if (spec === "none") return NONE;
  const plus = /^(\d+)\+$/.exec(spec);
  if (plus) return { min: Number(plus[1]), max: Infinity };
  const range = /^(\d+)-(\d+)$/.exec(spec);
  if (range) return { min: Number(range[1]), max: Number(range[2]) };
  if (/^\d+$/.test(spec)) return { min: Number(spec), max: Number(spec) };
  throw new Error(`Invalid version range "${spec}": expected N+, N-M or N`);
}

function inRange(range: VersionRange | undefined, v: number): boolean {
  return range !== undefined && v >= range.min && v <= range.max;
}

/**
 * Options of a field: nullable versions, tag, default. A field with a `default` (or a tag)
 * may be left out of a body a handler builds ({@linkcode Encodable}); the encoder writes it.
 */
export interface FieldOptions {
  nullable?: string;
  tag?: number;
  default?: unknown;
}

/** The TypeScript value of a primitive or `"[]int32"`-style array type name. */
type PrimitiveValueOf<T extends PrimitiveType | `[]${PrimitiveType}`> = T extends
  `[]${infer P extends PrimitiveType}` ? PrimitiveValue[P][]
  : PrimitiveValue[T & PrimitiveType];

/**
 * Declares a field. `type` is a primitive name, `"[]int32"`-style for arrays of primitives,
 * or an array of fields for a struct (with `array` telling whether it is a list of them).
 */
export function field<
  const N extends string,
  const T extends PrimitiveType | `[]${PrimitiveType}`,
  const O extends FieldOptions = Record<never, never>,
>(
  name: N,
  type: T,
  versionSpec = "0+",
  options: O = {} as O,
): Field<
  N,
  NullableIf<PrimitiveValueOf<T>, O>,
  NullableIf<PrimitiveValueOf<T>, O>,
  OmittableIf<O>
> {
  const array = type.startsWith("[]");
  return {
    name,
    type: (array ? type.slice(2) : type) as PrimitiveType,
    array,
    versions: versions(versionSpec),
    nullable: options.nullable === undefined ? undefined : versions(options.nullable),
    tag: options.tag,
    defaultValue: options.default,
  };
}

/** Declares an array of structs. */
export function structs<
  const N extends string,
  const F extends readonly Field[],
  const O extends FieldOptions = Record<never, never>,
>(
  name: N,
  versionSpec: string,
  fields: F,
  options: O = {} as O,
): Field<
  N,
  NullableIf<StructOf<F>[], O>,
  NullableIf<EncodableStructOf<F>[], O>,
  OmittableIf<O>
> {
  return {
    name,
    type: fields,
    array: true,
    versions: versions(versionSpec),
    nullable: options.nullable === undefined ? undefined : versions(options.nullable),
    tag: options.tag,
    defaultValue: options.default,
  };
}

/** Declares a message schema. */
export function message<const F extends readonly Field[]>(
  name: string,
  flexibleFrom: string,
  fields: F,
): MessageSchema<F> {
  return {
    name,
    fields,
    flexibleFrom: flexibleFrom === "none" ? Infinity : versions(flexibleFrom).min,
  };
}

function defaultOf(f: Field): unknown {
  if (f.defaultValue !== undefined) return f.defaultValue;
  if (f.nullable !== undefined) return null;
  if (f.array) return [];
  if (typeof f.type !== "string") return {};
  switch (f.type) {
    case "bool":
      return false;
    case "string":
      return "";
    case "bytes":
    case "records":
      return new Uint8Array(0);
    case "uuid":
      return new Uint8Array(16);
    default:
      return 0;
  }
}

function decodePrimitive(
  r: Reader,
  type: PrimitiveType,
  flexible: boolean,
  nullable: boolean,
): unknown {
  switch (type) {
    case "int8":
      return r.int8();
    case "int16":
      return r.int16();
    case "int32":
      return r.int32();
    case "int64":
      return r.int64();
    case "float64":
      return r.float64();
    case "bool":
      return r.bool();
    case "uuid":
      return r.uuid();
    case "string": {
      const s = flexible ? r.compactNullableString() : r.nullableString();
      if (s === null && !nullable) throw new DecodeError("Null string in a non-nullable field");
      return s;
    }
    case "bytes":
    case "records": {
      const b = flexible ? r.compactNullableBytes() : r.nullableBytes();
      if (b === null && !nullable) throw new DecodeError("Null bytes in a non-nullable field");
      return b;
    }
  }
}

function decodeValue(r: Reader, f: Field, version: number, flexible: boolean): unknown {
  const nullable = inRange(f.nullable, version);
  if (f.array) {
    const n = flexible ? r.compactArrayLength() : r.arrayLength();
    if (n < 0) {
      if (!nullable) throw new DecodeError(`Null array in non-nullable field ${f.name}`);
      return null;
    }
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) {
      out[i] = typeof f.type === "string"
        ? decodePrimitive(r, f.type, flexible, false)
        : decodeStruct(r, f.type, version, flexible);
    }
    return out;
  }
  if (typeof f.type !== "string") return decodeStruct(r, f.type, version, flexible);
  return decodePrimitive(r, f.type, flexible, nullable);
}

function decodeStruct(
  r: Reader,
  fields: readonly Field[],
  version: number,
  flexible: boolean,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    if (f.tag !== undefined || !inRange(f.versions, version)) {
      out[f.name] = defaultOf(f);
      continue;
    }
    out[f.name] = decodeValue(r, f, version, flexible);
  }
  if (flexible) {
    const count = r.uvarint();
    for (let i = 0; i < count; i++) {
      const tag = r.uvarint();
      const size = r.uvarint();
      const known = fields.find((f) => f.tag === tag && inRange(f.versions, version));
      if (known === undefined) {
        r.raw(size); // Unknown tags are skipped, as the protocol requires.
        continue;
      }
      const end = r.pos + size;
      out[known.name] = decodeValue(r, known, version, flexible);
      if (r.pos !== end) throw new DecodeError(`Tagged field ${known.name} has a wrong size`);
    }
  }
  return out;
}

/**
 * Decodes a message body at `version`, typed by its schema; throws {@linkcode DecodeError}
 * on bad input. The result is cast once, here: the walk over the schema builds what
 * {@linkcode Decoded} describes.
 */
export function decodeMessage<S extends MessageSchema>(
  schema: S,
  r: Reader,
  version: number,
): Decoded<S> {
  return decodeStruct(r, schema.fields, version, version >= schema.flexibleFrom) as Decoded<S>;
}

function encodePrimitive(
  w: Writer,
  type: PrimitiveType,
  value: unknown,
  flexible: boolean,
  name: string,
): void {
  switch (type) {
    case "int8":
      w.int8(value as number);
      return;
    case "int16":
      w.int16(value as number);
      return;
    case "int32":
      w.int32(value as number);
      return;
    case "int64":
      w.int64(value as number);
      return;
    case "float64":
      w.float64(value as number);
      return;
    case "bool":
      w.bool(value as boolean);
      return;
    case "uuid":
      w.uuid(value as Uint8Array);
      return;
    case "string":
      if (value !== null && typeof value !== "string") {
        throw new TypeError(`Field ${name} must be a string`);
      }
      if (flexible) w.compactNullableString(value);
      else w.nullableString(value);
      return;
    case "bytes":
    case "records":
      if (flexible) w.compactNullableBytes(value as Uint8Array | null);
      else w.nullableBytes(value as Uint8Array | null);
      return;
  }
}

function encodeValue(
  w: Writer,
  f: Field,
  value: unknown,
  version: number,
  flexible: boolean,
): void {
  if (f.array) {
    if (value === null || value === undefined) {
      if (flexible) w.uvarint(0);
      else w.int32(-1);
      return;
    }
    const items = value as unknown[];
    if (flexible) w.uvarint(items.length + 1);
    else w.int32(items.length);
    for (const item of items) {
      if (typeof f.type === "string") encodePrimitive(w, f.type, item, flexible, f.name);
      else encodeStruct(w, f.type, item as Record<string, unknown>, version, flexible);
    }
    return;
  }
  if (typeof f.type !== "string") {
    encodeStruct(w, f.type, (value ?? {}) as Record<string, unknown>, version, flexible);
    return;
  }
  // A null where this version has no null (JoinGroup's protocolName before v7 in an error
  // answer) goes out as "", as Kafka answers those versions (GroupCoordinator.NoProtocol);
  // a length of -1 there is refused by strict decoders.
  if (value === null && f.type === "string" && !inRange(f.nullable, version)) value = "";
  encodePrimitive(w, f.type, value, flexible, f.name);
}

function encodeStruct(
  w: Writer,
  fields: readonly Field[],
  value: Record<string, unknown>,
  version: number,
  flexible: boolean,
): void {
  let tagged: Field[] | undefined;
  for (const f of fields) {
    if (!inRange(f.versions, version)) continue;
    if (f.tag !== undefined) {
      if (value[f.name] !== undefined) (tagged ??= []).push(f);
      continue;
    }
    const v = value[f.name];
    encodeValue(w, f, v === undefined ? defaultOf(f) : v, version, flexible);
  }
  if (flexible) {
    if (tagged === undefined) {
      w.uvarint(0);
      return;
    }
    w.uvarint(tagged.length);
    for (const f of tagged.sort((a, b) => a.tag! - b.tag!)) {
      const inner = new (w.constructor as new () => Writer)();
      encodeValue(inner, f, value[f.name], version, flexible);
      const bytes = inner.finish();
      w.uvarint(f.tag!).uvarint(bytes.length).raw(bytes);
    }
  }
}

/** Encodes a message body at `version`; absent fields take their defaults. */
export function encodeMessage(
  schema: MessageSchema,
  w: Writer,
  value: object,
  version: number,
): void {
  encodeStruct(
    w,
    schema.fields,
    value as Record<string, unknown>,
    version,
    version >= schema.flexibleFrom,
  );
}
