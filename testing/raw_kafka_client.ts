/**
 * A test harness: a minimal Kafka protocol client over one TCP connection, built on the
 * broker's own schemas: encodes a request at a chosen version, decodes the response, both
 * typed by the API's spec (`request(M.produce, 7, body)` gives the decoded Produce response).
 * For wire-level tests (hand-built produce retries, unsupported versions, bad frames) and the
 * raw load generator of the benchmark, where no client library should add its own cost.
 *
 * @module
 */
import {
  ApiKey,
  type ApiSpec,
  type Decoded,
  decodeMessage,
  encodeMessage,
  produce,
  Reader,
  Writer,
} from "@trading/broker/protocol";

/** `T` with every field optional, to any depth (byte arrays stay whole). */
type Sparse<T> = T extends Uint8Array ? T
  : T extends readonly (infer U)[] ? Sparse<U>[]
  : T extends object ? { [K in keyof T]?: Sparse<T[K]> }
  : T;

/**
 * A request body of `A`: any field may be left out, the encoder then writes its default, so
 * a test can send sparse and edge-case requests; a field given must have its schema's type.
 */
export type RequestBody<A extends ApiSpec> = Sparse<Decoded<A["request"]>>;

/** The decoded response body of `A`. */
export type ResponseBody<A extends ApiSpec> = Decoded<A["response"]>;

/** One partition's answer to a Produce. */
export type ProducePartitionAnswer = ResponseBody<
  typeof produce
>["responses"][number]["partitions"][number];

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

  /** Encodes a request frame (size prefix included) of `api` without sending it. */
  encodeRequest<A extends ApiSpec>(
    api: A,
    version: number,
    body: RequestBody<A>,
    correlationId = ++this.correlationId,
  ): Uint8Array {
    const w = new Writer(256);
    w.int32(0).int16(api.key).int16(version).int32(correlationId).nullableString(this.clientId);
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

  /** Decodes a response frame of `api` at `version`. */
  decodeResponse<A extends ApiSpec>(
    api: A,
    version: number,
    frame: Uint8Array,
  ): { correlationId: number; body: ResponseBody<A> } {
    const r = new Reader(frame);
    const correlationId = r.int32();
    // ApiVersions' response header is always v0 (the client cannot know our versions yet).
    if (version >= api.response.flexibleFrom && api.key !== ApiKey.ApiVersions) {
      const tags = r.uvarint(); // Response header v1: tagged fields.
      for (let i = 0; i < tags; i++) {
        r.uvarint();
        r.raw(r.uvarint());
      }
    }
    return { correlationId, body: decodeMessage<A["response"]>(api.response, r, version) };
  }

  /** Sends a request of `api` and returns its decoded response body. */
  async request<A extends ApiSpec>(
    api: A,
    version: number,
    body: RequestBody<A>,
  ): Promise<ResponseBody<A>> {
    const correlationId = this.correlationId + 1;
    await this.send(this.encodeRequest(api, version, body));
    const frame = await this.readFrame();
    if (frame === null) {
      throw new Error(`Broker closed the connection before answering ${api.name} v${version}`);
    }
    const decoded = this.decodeResponse(api, version, frame);
    if (decoded.correlationId !== correlationId) {
      throw new Error(
        `Response correlation id ${decoded.correlationId}: expected ${correlationId}`,
      );
    }
    return decoded.body;
  }

  /**
   * Produces one record batch to `topic`/`partition` (non-transactional; by default v8,
   * acks=-1) and returns the partition's answer; the caller checks its error code.
   */
  async produce(
    topic: string,
    partition: number,
    records: Uint8Array,
    { version = 8, acks = -1, timeoutMs = 10_000 }: {
      version?: number;
      acks?: number;
      timeoutMs?: number;
    } = {},
  ): Promise<ProducePartitionAnswer> {
    const response = await this.request(produce, version, {
      transactionalId: null,
      acks,
      timeoutMs,
      topics: [{ name: topic, partitions: [{ index: partition, records }] }],
    });
    return response.responses[0]!.partitions[0]!;
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
