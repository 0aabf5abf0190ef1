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
import { ApiKey, APIS, type ApiSpec } from "./protocol/messages.ts";
import { decodeMessage, encodeMessage } from "./protocol/schema.ts";
import type * as T from "./protocol/types.ts";
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

/** Runs the handler of a served request and returns the response body (null: none). */
export function runHandler(
  state: BrokerState,
  ctx: RequestContext,
  api: ApiSpec,
  reader: Reader,
): Promise<object | null> | object | null {
  const body = decodeMessage<unknown>(api.request, reader, ctx.apiVersion);
  switch (api.key) {
    case ApiKey.Produce:
      return handleProduce(state, ctx, body as T.ProduceRequest);
    case ApiKey.Fetch:
      return handleFetch(state, body as T.FetchRequest);
    case ApiKey.ListOffsets:
      return handleListOffsets(state, ctx, body as T.ListOffsetsRequest);
    case ApiKey.Metadata:
      return handleMetadata(state, ctx, body as T.MetadataRequest);
    case ApiKey.OffsetCommit:
      return handleOffsetCommit(state, body as T.OffsetCommitRequest);
    case ApiKey.OffsetFetch:
      return handleOffsetFetch(state, body as T.OffsetFetchRequest);
    case ApiKey.FindCoordinator:
      return handleFindCoordinator(state, body as T.FindCoordinatorRequest);
    case ApiKey.JoinGroup:
      return handleJoinGroup(state, ctx, body as T.JoinGroupRequest);
    case ApiKey.Heartbeat:
      return handleHeartbeat(state, body as T.HeartbeatRequest);
    case ApiKey.LeaveGroup:
      return handleLeaveGroup(state, ctx, body as T.LeaveGroupRequest);
    case ApiKey.SyncGroup:
      return handleSyncGroup(state, body as T.SyncGroupRequest);
    case ApiKey.DescribeGroups:
      return handleDescribeGroups(state, body as T.DescribeGroupsRequest);
    case ApiKey.ListGroups:
      return handleListGroups(state, body as T.ListGroupsRequest);
    case ApiKey.DeleteGroups:
      return handleDeleteGroups(state, body as T.DeleteGroupsRequest);
    case ApiKey.OffsetDelete:
      return handleOffsetDelete(state, body as T.OffsetDeleteRequest);
    case ApiKey.ApiVersions:
      return handleApiVersions();
    case ApiKey.CreateTopics:
      return handleCreateTopics(state, ctx, body as T.CreateTopicsRequest);
    case ApiKey.DeleteTopics:
      return handleDeleteTopics(state, body as T.DeleteTopicsRequest);
    case ApiKey.InitProducerId:
      return handleInitProducerId(state, ctx, body as T.InitProducerIdRequest);
    case ApiKey.AddPartitionsToTxn:
      return handleAddPartitionsToTxn(state, ctx, body as T.AddPartitionsToTxnRequest);
    case ApiKey.AddOffsetsToTxn:
      return handleAddOffsetsToTxn(state, ctx, body as T.AddOffsetsToTxnRequest);
    case ApiKey.EndTxn:
      return handleEndTxn(state, ctx, body as T.EndTxnRequest);
    case ApiKey.TxnOffsetCommit:
      return handleTxnOffsetCommit(state, ctx, body as T.TxnOffsetCommitRequest);
    case ApiKey.CreatePartitions:
      return handleCreatePartitions(state, body as T.CreatePartitionsRequest);
    case ApiKey.DeleteRecords:
      return handleDeleteRecords(state, body as T.DeleteRecordsRequest);
    case ApiKey.DescribeConfigs:
      return handleDescribeConfigs(state, body as T.DescribeConfigsRequest);
    case ApiKey.AlterConfigs:
      return handleAlterConfigs(state, body as T.AlterConfigsRequest);
    case ApiKey.IncrementalAlterConfigs:
      return handleIncrementalAlterConfigs(state, body as T.IncrementalAlterConfigsRequest);
    default:
      throw new DecodeError(`No handler for API key ${api.key}`);
  }
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
