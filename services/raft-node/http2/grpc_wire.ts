/**
 * gRPC over HTTP/2 on node:http2 streams, the few parts this service serves itself: length-
 * prefixed messages (a compressed flag byte, the length as a big-endian uint32, the
 * message), responses with their trailers, and trailers-only errors.
 *
 * @module
 */
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { Buffer } from "node:buffer";
import type http2 from "node:http2";
import type * as grpc from "@grpc/grpc-js";

const RESPONSE_HEADERS = Object.freeze({
  ":status": 200,
  "content-type": "application/grpc",
});
const OK_TRAILERS = Object.freeze({ "grpc-status": "0" });

const HEADER_BYTES = 5;
const NO_HEADER = new Uint8Array(HEADER_BYTES);

/**
 * Encodes one message as a gRPC frame with `encode` (a ts-proto `Message.encode`), writing
 * the header and the message into one buffer (no copy of the message).
 */
export function encodeGrpcFrame<T>(
  message: T,
  encode: (message: T, writer: BinaryWriter) => BinaryWriter,
): Buffer {
  const bytes = encode(message, new BinaryWriter().raw(NO_HEADER)).finish();
  const frame = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  frame.writeUInt32BE(bytes.byteLength - HEADER_BYTES, 1);
  return frame;
}

/** Wraps an encoded message as a gRPC frame. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + message.byteLength);
  frame[0] = 0;
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, HEADER_BYTES);
  return frame;
}

/**
 * Splits a stream's DATA chunks into gRPC messages, whatever the chunking (a message may
 * span chunks, a chunk may hold several), copying only a message that spans chunks, once.
 * Throws on a compressed message (none are sent here) or one above `maxBytes`.
 */
export class GrpcFrameDecoder {
  #chunks: Buffer[] = [];
  #bytes = 0;
  readonly #maxBytes: number;

  /** A decoder refusing messages above `maxBytes`. */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Feeds one chunk; returns the messages it completed, in order. */
  push(chunk: Buffer): Uint8Array[] {
    this.#chunks.push(chunk);
    this.#bytes += chunk.byteLength;
    const messages: Uint8Array[] = [];
    while (this.#bytes >= HEADER_BYTES) {
      let first = this.#chunks[0]!;
      if (first.byteLength < HEADER_BYTES) first = this.#merge();
      if (first[0] !== 0) throw new Error("Invalid gRPC frame: expected an uncompressed message");
      const length = first.readUInt32BE(1);
      if (length > this.#maxBytes) {
        throw new Error(
          `Invalid gRPC frame of ${length} bytes: expected at most ${this.#maxBytes}`,
        );
      }
      const end = HEADER_BYTES + length;
      if (this.#bytes < end) break;
      if (first.byteLength < end) first = this.#merge();
      messages.push(first.subarray(HEADER_BYTES, end));
      if (first.byteLength === end) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(end);
      this.#bytes -= end;
    }
    return messages;
  }

  /** True when part of a message is waiting for more bytes. */
  get partial(): boolean {
    return this.#bytes > 0;
  }

  /** Joins the waiting chunks into one (a message that spans chunks). */
  #merge(): Buffer {
    const merged = Buffer.concat(this.#chunks, this.#bytes);
    this.#chunks = [merged];
    return merged;
  }
}

/** Answers a call with one message and status OK (HEADERS, DATA, trailers). */
export function respondGrpc(stream: http2.ServerHttp2Stream, message: Uint8Array): void {
  if (stream.destroyed || stream.closed) return;
  const frame = grpcFrame(message);
  stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
  stream.once("wantTrailers", () => stream.sendTrailers(OK_TRAILERS));
  stream.end(frame);
}

/** Answers a call with a non-OK status, as a trailers-only response (gRPC over HTTP/2). */
export function failGrpc(
  stream: http2.ServerHttp2Stream,
  code: grpc.status,
  details: string,
): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  stream.respond({
    ...RESPONSE_HEADERS,
    "grpc-status": String(code),
    "grpc-message": percentEncode(details),
  }, { endStream: true });
}

/**
 * `grpc-message` encoding (gRPC over HTTP/2, "Responses"): UTF-8, with every byte outside
 * printable ASCII, and `%` itself, as `%XX`.
 */
function percentEncode(text: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(text)) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
