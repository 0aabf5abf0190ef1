/**
 * The verifier: reads `orders.commands` and `orders.events` and reports duplicates, lost
 * commands and end-to-end latency (`main.ts verify <seconds> [brokers] [--json]`).
 *
 * @module
 */
export { type VerifyOptions, verifyPipeline } from "./verify_pipeline.ts";
export { PipelineAudit, type VerifyReport } from "./pipeline_audit.ts";
