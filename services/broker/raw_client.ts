/**
 * A minimal Kafka protocol client over one TCP connection, built on the broker's own
 * schemas: encodes a request at a chosen version, decodes the response. For wire-level tests
 * (hand-built produce retries, unsupported versions, bad frames) and the raw load generator
 * of the benchmark, where no client library should add its own cost.
 *
 * @module
 */
import { APIS, type ApiSpec } from "./protocol/messages.ts";
import { decodeMessage, encodeMessage } from "./protocol/schema.ts";
import { Reader, Writer } from "./protocol/wire.ts";

/** One connection speaking the Kafka protocol. */
export class RawKafkaClient {
  private correlationId = 0;
  private buffer = new Uint8Array(0);
  private readonly conn: Deno.TcpConn;

  private constructor(conn: Deno.TcpConn, readonly clientId: string) {
    this.conn = conn;
  }

  /** Connects to `host:port`. */
  static async connect(address: string, clientId = "raw-client"): Promise<RawKafkaClient> {
    const at = address.lastIndexOf(":");
    const conn = await Deno.connect({
      hostname: address.slice(0, at),
      port: Number(address.slice(at + 1)),
    });
    conn.setNoDelay(true);
    return new RawKafkaClient(conn, clientId);
  }

  /** Encodes a request frame (size prefix included) without sending it. */
  encodeRequest(
    apiKey: number,
    version: number,
    body: object,
    correlationId = ++this.correlationId,
  ): Uint8Array {
    const api = apiOf(apiKey);
    const w = new Writer(256);
    w.int32(0).int16(apiKey).int16(version).int32(correlationId).nullableString(this.clientId);
    if (version >= api.request.flexibleFrom) w.uvarint(0);
    encodeMessage(api.request, w, body, version);
    const frame = w.finish().slice();
    new DataView(frame.buffer).setInt32(0, frame.length - 4);
    return frame;
  }

  /** Sends raw bytes as they are. */
  async send(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) written += await this.conn.write(bytes.subarray(written));
  }

  /** Reads one response frame (without its size prefix); null when the broker closed. */
  async readFrame(): Promise<Uint8Array | null> {
    while (
      this.buffer.length < 4 ||
      this.buffer.length < 4 + new DataView(this.buffer.buffer, this.buffer.byteOffset).getInt32(0)
    ) {
      const chunk = new Uint8Array(256 * 1024);
      let n: number | null;
      try {
        n = await this.conn.read(chunk);
      } catch {
        n = null;
      }
      if (n === null) return null;
      const next = new Uint8Array(this.buffer.length + n);
      next.set(this.buffer);
      next.set(chunk.subarray(0, n), this.buffer.length);
      this.buffer = next;
    }
    const size = new DataView(this.buffer.buffer, this.buffer.byteOffset).getInt32(0);
    const frame = this.buffer.slice(4, 4 + size);
    this.buffer = this.buffer.slice(4 + size);
    return frame;
  }

  /** Decodes a response frame of `apiKey` at `version`. */
  decodeResponse<T>(
    apiKey: number,
    version: number,
    frame: Uint8Array,
  ): { correlationId: number; body: T } {
    const api = apiOf(apiKey);
    const r = new Reader(frame);
    const correlationId = r.int32();
    if (version >= api.response.flexibleFrom && apiKey !== 18) {
      const tags = r.uvarint(); // Response header v1: tagged fields.
      for (let i = 0; i < tags; i++) {
        r.uvarint();
        r.raw(r.uvarint());
      }
    }
    return { correlationId, body: decodeMessage<T>(api.response, r, version) };
  }

  /** Sends a request and returns its decoded response body. */
  async request<T>(apiKey: number, version: number, body: object): Promise<T> {
    const correlationId = this.correlationId + 1;
    await this.send(this.encodeRequest(apiKey, version, body));
    const frame = await this.readFrame();
    if (frame === null) {
      throw new Error(`Broker closed the connection before answering API ${apiKey} v${version}`);
    }
    const decoded = this.decodeResponse<T>(apiKey, version, frame);
    if (decoded.correlationId !== correlationId) {
      throw new Error(
        `Response correlation id ${decoded.correlationId}: expected ${correlationId}`,
      );
    }
    return decoded.body;
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }
}

function apiOf(apiKey: number): ApiSpec {
  const api = APIS.get(apiKey);
  if (api === undefined) {
    throw new RangeError(`Unknown API key ${apiKey}: expected one the broker serves`);
  }
  return api;
}
