/**
 * Decodes one request frame, runs its handler and encodes the response frame. Requests of
 * an API or version we do not serve get UNSUPPORTED_VERSION (35) and the connection stays
 * open; ApiVersions answers that with the list of what we do serve.
 *
 * @module
 */
import {
  handleAlterConfigs,
  handleDescribeConfigs,
  handleIncrementalAlterConfigs,
} from "./handlers/configs.ts";
import type { BrokerState, RequestContext } from "./handlers/context.ts";
import { handleFetch } from "./handlers/fetch.ts";
import {
  handleDeleteGroups,
  handleDescribeGroups,
  handleHeartbeat,
  handleJoinGroup,
  handleLeaveGroup,
  handleListGroups,
  handleOffsetCommit,
  handleOffsetDelete,
  handleOffsetFetch,
  handleSyncGroup,
} from "./handlers/groups.ts";
import {
  handleApiVersions,
  handleCreateTopics,
  handleDeleteTopics,
  handleFindCoordinator,
  handleInitProducerId,
  handleListOffsets,
  handleMetadata,
} from "./handlers/metadata.ts";
import { handleCreatePartitions, handleDeleteRecords } from "./handlers/partitions.ts";
import { handleProduce } from "./handlers/produce.ts";
import {
  handleAddOffsetsToTxn,
  handleAddPartitionsToTxn,
  handleEndTxn,
  handleTxnOffsetCommit,
} from "./handlers/transactions.ts";
import { ErrorCode } from "./protocol/error_codes.ts";
import * as M from "./protocol/messages.ts";
import { ApiKey, APIS, type ApiSpec } from "./protocol/messages.ts";
import {
  type Decoded,
  decodeMessage,
  type Encodable,
  encodeMessage,
  type MessageSchema,
} from "./protocol/schema.ts";
import { DecodeError, Reader, Writer } from "./protocol/wire.ts";

/** The parsed request header. */
export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  /** The API when key and version are served; undefined otherwise. */
  api: ApiSpec | undefined;
}

/** Smallest legal request: apiKey, apiVersion, correlationId, clientId length. */
export const MIN_REQUEST_SIZE = 10;

/**
 * Parses the request header (v1, or v2 with tagged fields for flexible versions). Throws
 * {@linkcode DecodeError} when the frame is too short or malformed.
 */
export function parseRequestHeader(frame: Uint8Array, reader: Reader): RequestHeader {
  if (frame.length < MIN_REQUEST_SIZE) {
    throw new DecodeError(`Request of ${frame.length} bytes is shorter than a request header`);
  }
  const apiKey = reader.int16();
  const apiVersion = reader.int16();
  const correlationId = reader.int32();
  const clientId = reader.nullableString(); // Always a classic string, even in header v2.
  const spec = APIS.get(apiKey);
  const api = spec !== undefined && apiVersion >= spec.minVersion && apiVersion <= spec.maxVersion
    ? spec
    : undefined;
  if (api !== undefined && apiVersion >= api.request.flexibleFrom) {
    const tags = reader.uvarint();
    for (let i = 0; i < tags; i++) {
      reader.uvarint();
      reader.raw(reader.uvarint());
    }
  }
  return { apiKey, apiVersion, correlationId, clientId, api };
}

/** Encodes a response frame: size, correlation id, header tags when flexible, body. */
export function encodeResponse(
  api: ApiSpec,
  version: number,
  correlationId: number,
  body: object,
): Uint8Array {
  const w = new Writer(256);
  w.int32(0).int32(correlationId);
  // Response header v1 (tagged fields) for flexible versions, except ApiVersions, whose
  // response header is always v0 so a client can read it before knowing our versions.
  if (version >= api.response.flexibleFrom && api.key !== ApiKey.ApiVersions) w.uvarint(0);
  encodeMessage(api.response, w, body, version);
  const frame = w.finish();
  new DataView(frame.buffer, frame.byteOffset).setInt32(0, frame.length - 4);
  return frame;
}

/**
 * The answer to a request we do not serve: ApiVersions gets a v0 response with error 35
 * and our versions (the client then retries with one of them); any other API gets error 35
 * as the body, since the layout of a version we do not know cannot be written.
 */
export function unsupportedResponse(header: RequestHeader): Uint8Array {
  if (header.apiKey === ApiKey.ApiVersions) {
    return encodeResponse(
      APIS.get(ApiKey.ApiVersions)!,
      0,
      header.correlationId,
      handleApiVersions(ErrorCode.UNSUPPORTED_VERSION),
    );
  }
  const w = new Writer(16);
  w.int32(6).int32(header.correlationId).int16(ErrorCode.UNSUPPORTED_VERSION);
  return w.finish();
}

/** Runs a served request: decodes its body and answers it (the response body; null: none). */
type Handler = (
  state: BrokerState,
  ctx: RequestContext,
  reader: Reader,
) => Promise<object | null> | object | null;

/**
 * The handler of `spec`'s requests: the body is decoded with the spec's own schema, so its
 * type is the one derived from that schema (`Decoded`), and the handler's answer must have
 * the shape of the spec's response schema (`Encodable`): neither is a cast.
 */
function serve<Req extends MessageSchema, Res extends MessageSchema>(
  spec: ApiSpec<Req, Res>,
  handle: (
    state: BrokerState,
    ctx: RequestContext,
    body: Decoded<Req>,
  ) => Promise<Encodable<Res> | null> | Encodable<Res> | null,
): [number, Handler] {
  return [
    spec.key,
    (state, ctx, reader) => handle(state, ctx, decodeMessage(spec.request, reader, ctx.apiVersion)),
  ];
}

/** Every served API's handler, by API key. */
const HANDLERS: ReadonlyMap<number, Handler> = new Map([
  serve(M.produce, (state, ctx, body) => handleProduce(state, ctx, body)),
  serve(M.fetch, (state, ctx, body) => handleFetch(state, ctx, body)),
  serve(M.listOffsets, (state, ctx, body) => handleListOffsets(state, ctx, body)),
  serve(M.metadata, (state, ctx, body) => handleMetadata(state, ctx, body)),
  serve(M.offsetCommit, (state, _ctx, body) => handleOffsetCommit(state, body)),
  serve(M.offsetFetch, (state, _ctx, body) => handleOffsetFetch(state, body)),
  serve(M.findCoordinator, (state, _ctx, body) => handleFindCoordinator(state, body)),
  serve(M.joinGroup, (state, ctx, body) => handleJoinGroup(state, ctx, body)),
  serve(M.heartbeat, (state, _ctx, body) => handleHeartbeat(state, body)),
  serve(M.leaveGroup, (state, ctx, body) => handleLeaveGroup(state, ctx, body)),
  serve(M.syncGroup, (state, _ctx, body) => handleSyncGroup(state, body)),
  serve(M.describeGroups, (state, _ctx, body) => handleDescribeGroups(state, body)),
  serve(M.listGroups, (state, _ctx, body) => handleListGroups(state, body)),
  serve(M.deleteGroups, (state, _ctx, body) => handleDeleteGroups(state, body)),
  serve(M.offsetDelete, (state, _ctx, body) => handleOffsetDelete(state, body)),
  serve(M.apiVersions, () => handleApiVersions()),
  serve(M.createTopics, (state, ctx, body) => handleCreateTopics(state, ctx, body)),
  serve(M.deleteTopics, (state, _ctx, body) => handleDeleteTopics(state, body)),
  serve(M.initProducerId, (state, ctx, body) => handleInitProducerId(state, ctx, body)),
  serve(M.addPartitionsToTxn, (state, ctx, body) => handleAddPartitionsToTxn(state, ctx, body)),
  serve(M.addOffsetsToTxn, (state, ctx, body) => handleAddOffsetsToTxn(state, ctx, body)),
  serve(M.endTxn, (state, ctx, body) => handleEndTxn(state, ctx, body)),
  serve(M.txnOffsetCommit, (state, ctx, body) => handleTxnOffsetCommit(state, ctx, body)),
  serve(M.createPartitions, (state, _ctx, body) => handleCreatePartitions(state, body)),
  serve(M.deleteRecords, (state, _ctx, body) => handleDeleteRecords(state, body)),
  serve(M.describeConfigs, (state, _ctx, body) => handleDescribeConfigs(state, body)),
  serve(M.alterConfigs, (state, _ctx, body) => handleAlterConfigs(state, body)),
  serve(
    M.incrementalAlterConfigs,
    (state, _ctx, body) => handleIncrementalAlterConfigs(state, body),
  ),
]);

/** Runs the handler of a served request and returns the response body (null: none). */
export function runHandler(
  state: BrokerState,
  ctx: RequestContext,
  api: ApiSpec,
  reader: Reader,
): Promise<object | null> | object | null {
  const handler = HANDLERS.get(api.key);
  if (handler === undefined) throw new DecodeError(`No handler for API key ${api.key}`);
  return handler(state, ctx, reader);
}

/** The first non-zero `errorCode` in a response (depth-first), for metrics; 0 if none. */
export function firstErrorCode(value: unknown, depth = 0): number {
  if (depth > 4 || value === null || typeof value !== "object" || value instanceof Uint8Array) {
    return 0;
  }
  if (Array.isArray(value)) {
    for (const item of value) {
      const code = firstErrorCode(item, depth + 1);
      if (code !== 0) return code;
    }
    return 0;
  }
  const record = value as Record<string, unknown>;
  if (typeof record.errorCode === "number" && record.errorCode !== 0) return record.errorCode;
  for (const key in record) {
    const child = record[key];
    if (child !== null && typeof child === "object" && !(child instanceof Uint8Array)) {
      const code = firstErrorCode(child, depth + 1);
      if (code !== 0) return code;
    }
  }
  return 0;
}
