/**
 * The verifier: reads `orders.commands` and `orders.events` and reports duplicates, lost
 * commands and end-to-end latency (`main.ts verify <seconds> [brokers] [--json]`), and the
 * group-less partition reader it is built on.
 *
 * @module
 */
export { type VerifyOptions, verifyPipeline } from "./verify_pipeline.ts";
export { PipelineAudit, type VerifyReport } from "./pipeline_audit.ts";
export { PartitionReader, type PartitionRecord } from "./partition_reader.ts";
export { partitionForKey } from "./partition_for_key.ts";
export { kafkaClusterId } from "./kafka_cluster_id.ts";
