/**
 * What request handlers see of the broker: its identity and address, storage, group and
 * transaction coordinators, producer ids, metrics and settings; plus the facts of one request.
 *
 * @module
 */
import type { GroupCoordinator } from "../groups/group_coordinator.ts";
import type { BrokerMetrics } from "../metrics.ts";
import type { BrokerConfigStore } from "../storage/broker_config.ts";
import type { ProducerIdAllocator } from "../storage/producer_ids.ts";
import type { TopicStore } from "../storage/topic_store.ts";
import type { TransactionCoordinator } from "../transactions/transaction_coordinator.ts";

/** The broker's parts and settings, shared by every handler. */
export interface BrokerState {
  nodeId: number;
  /** Host and port advertised in Metadata and FindCoordinator: what clients connect to. */
  advertisedHost: string;
  advertisedPort: number;
  clusterId: string;
  topics: TopicStore;
  /** Dynamic broker configs (AlterConfigs on a BROKER resource), durable. */
  brokerConfigs: BrokerConfigStore;
  coordinator: GroupCoordinator;
  producerIds: ProducerIdAllocator;
  transactions: TransactionCoordinator;
  metrics: BrokerMetrics;
  autoCreateTopics: boolean;
  defaultPartitions: number;
  /** Largest record batch accepted by Produce: the default of every topic's max.message.bytes. */
  maxBatchBytes: number;
  /** Largest Fetch response (besides KIP-74's first batch), whatever the request asks for. */
  fetchMaxBytes: number;
  /** Largest decompressed size of a produced batch's records (BROKER_MAX_DECOMPRESSED_BYTES). */
  maxDecompressedBytes: number;
  /** How far ahead of the broker's clock a record timestamp may be, ms. */
  maxTimestampAheadMs: number;
  /** Aborted when the broker closes: long polls end early. */
  closing: AbortSignal;
}

/** One request's header facts and its connection's peer. */
export interface RequestContext {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  clientHost: string;
}
