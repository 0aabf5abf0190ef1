/**
 * The frames of the TCP peer transport (tcp_transport.ts): a 5-byte header, the payload's
 * length as a big-endian uint32 and a kind byte, then the payload. The first frame of a
 * connection is a {@linkcode FrameKind.hello} (JSON: protocol, sender id and address, the
 * cluster secret); every later one an {@linkcode FrameKind.envelope}, one `RaftEnvelope` of
 * raft.proto (the encoding the gRPC transport's `Stream` carries).
 *
 * @module
 */
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { RaftEnvelope } from "@trading/proto/raft";
import type { Message } from "../core/types.ts";
import { toEnvelope } from "./envelope.ts";

/** Bytes of a frame's header: the payload's length (uint32, big-endian) and its kind. */
export const FRAME_HEADER_BYTES = 5;

/** What a frame carries. */
export const FrameKind = {
  /** The first frame of a connection: who is calling, with the cluster secret. */
  hello: 1,
  /** One Raft message, an encoded `RaftEnvelope`. */
  envelope: 2,
} as const;

/** The hello's protocol word; a peer speaking another version is refused. */
export const TCP_PROTOCOL = "raft-tcp/1";

/** The first frame of a connection. */
export interface Hello {
  readonly protocol: string;
  /** The sender's node id. */
  readonly from: string;
  /** The sender's advertised transport address (so that a node that just joined can answer). */
  readonly addr: string;
  /** `CLUSTER_SECRET`, when the sender has one. */
  readonly secret?: string;
}

/** One decoded frame: its kind and its payload (a view into the bytes received). */
export interface Frame {
  readonly kind: number;
  readonly payload: Uint8Array;
}

const NO_HEADER = new Uint8Array(FRAME_HEADER_BYTES);

/** Encodes a core message as an envelope frame, header and message in one buffer. */
export function encodeMessageFrame(message: Message): Uint8Array {
  const bytes = RaftEnvelope.encode(toEnvelope(message), new BinaryWriter().raw(NO_HEADER))
    .finish();
  writeHeader(bytes, bytes.byteLength - FRAME_HEADER_BYTES, FrameKind.envelope);
  return bytes;
}

/** Encodes a hello frame. */
export function encodeHelloFrame(hello: Hello): Uint8Array {
  return encodeFrame(FrameKind.hello, new TextEncoder().encode(JSON.stringify(hello)));
}

/** Wraps `payload` as a frame of `kind`. */
export function encodeFrame(kind: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(FRAME_HEADER_BYTES + payload.byteLength);
  writeHeader(frame, payload.byteLength, kind);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

function writeHeader(frame: Uint8Array, length: number, kind: number): void {
  new DataView(frame.buffer, frame.byteOffset, FRAME_HEADER_BYTES).setUint32(0, length);
  frame[4] = kind;
}

/**
 * Reads a hello's payload. Throws on anything but a JSON object with this protocol's word, a
 * sender id and an address (strings), and an optional string secret.
 */
export function decodeHello(payload: Uint8Array): Hello {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch {
    throw new Error("Invalid raft-tcp hello: expected a JSON object");
  }
  const hello = value as Partial<Record<keyof Hello, unknown>> | null;
  if (typeof hello !== "object" || hello === null || Array.isArray(hello)) {
    throw new Error("Invalid raft-tcp hello: expected a JSON object");
  }
  if (hello.protocol !== TCP_PROTOCOL) {
    throw new Error(`Invalid raft-tcp hello protocol ${hello.protocol}: expected ${TCP_PROTOCOL}`);
  }
  if (typeof hello.from !== "string" || hello.from === "" || typeof hello.addr !== "string") {
    throw new Error("Invalid raft-tcp hello: expected a sender id and address");
  }
  if (hello.secret !== undefined && typeof hello.secret !== "string") {
    throw new Error("Invalid raft-tcp hello secret: expected a string");
  }
  return {
    protocol: hello.protocol,
    from: hello.from,
    addr: hello.addr,
    ...(hello.secret === undefined ? {} : { secret: hello.secret }),
  };
}

/**
 * Splits the bytes of a connection into frames, whatever the chunking (a frame may span
 * chunks, a chunk may hold several), copying only a frame that spans chunks, once. Throws on
 * a frame whose payload is above {@linkcode FrameDecoder.maxBytes} before reading it.
 */
export class FrameDecoder {
  /** The largest payload accepted; may change between chunks (after the handshake). */
  maxBytes: number;
  #chunks: Uint8Array[] = [];
  #bytes = 0;

  /** A decoder refusing payloads above `maxBytes`. */
  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /**
   * Feeds one chunk (kept by reference: the caller must not reuse it); returns the frames it
   * completed, in order, up to `limit` of them (the rest stay for the next call).
   */
  push(chunk: Uint8Array, limit = Infinity): Frame[] {
    if (chunk.byteLength > 0) {
      this.#chunks.push(chunk);
      this.#bytes += chunk.byteLength;
    }
    const frames: Frame[] = [];
    while (this.#bytes >= FRAME_HEADER_BYTES && frames.length < limit) {
      let first = this.#chunks[0]!;
      if (first.byteLength < FRAME_HEADER_BYTES) first = this.#merge();
      const length = new DataView(first.buffer, first.byteOffset, FRAME_HEADER_BYTES)
        .getUint32(0);
      if (length > this.maxBytes) {
        throw new Error(
          `Invalid raft-tcp frame of ${length} bytes: expected at most ${this.maxBytes}`,
        );
      }
      const end = FRAME_HEADER_BYTES + length;
      if (this.#bytes < end) break;
      if (first.byteLength < end) first = this.#merge();
      frames.push({ kind: first[4]!, payload: first.subarray(FRAME_HEADER_BYTES, end) });
      if (first.byteLength === end) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(end);
      this.#bytes -= end;
    }
    return frames;
  }

  #merge(): Uint8Array {
    const merged = new Uint8Array(this.#bytes);
    let offset = 0;
    for (const chunk of this.#chunks) {
      merged.set(chunk, offset);
      offset += chunk.byteLength;
    }
    this.#chunks = [merged];
    return merged;
  }
}
