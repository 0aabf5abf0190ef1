/**
 * The `verify` role: `main.ts verify <seconds> [brokers] [--json]`. Reads `orders.commands`
 * and `orders.events` for up to `<seconds>` and prints what it found; exit 0 when no order id
 * has two events and no command lacks one, 1 otherwise, 2 on bad arguments.
 *
 * @module
 */
import { CONFIG_EXIT_CODE, hostPortList, loadConfig } from "@trading/shared/config";
import { createKafka } from "@trading/shared/kafka";
import { Progress } from "@trading/shared/progress";
import { resetLogging, setupLogging } from "@trading/shared/log";
import { errorMessage } from "@trading/shared/retry";
import type { VerifyReport } from "./pipeline_audit.ts";
import { verifyPipeline } from "./verify_pipeline.ts";

const USAGE = "Usage: main.ts verify <seconds> [brokers] [--json]";

/** Formats a report for people. */
export function formatReport(report: VerifyReport): string {
  const list = (ids: string[], total: number) =>
    total === 0 ? "" : `  (${ids.join(", ")}${total > ids.length ? ", ..." : ""})`;
  const latency = report.latencyMs
    ? `p50 ${report.latencyMs.p50} ms, p99 ${report.latencyMs.p99} ms, max ${report.latencyMs.max} ms`
    : "no events";
  const reasons = Object.entries(report.rejectReasons).map(([r, n]) => `${r} ${n}`).join(", ");
  return [
    `commands              ${report.commandRecords} records, ${report.uniqueCommands} order ids` +
    (report.invalidCommands ? `, ${report.invalidCommands} invalid (dead-lettered)` : ""),
    `events                ${report.events}` +
    (report.invalidEvents ? ` (${report.invalidEvents} invalid)` : ""),
    `unique order ids      ${report.uniqueOrderIds}  (accepted ${report.accepted}, rejected ${report.rejected}${
      reasons ? `: ${reasons}` : ""
    })`,
    `duplicate order ids   ${report.duplicates}${list(report.duplicateIds, report.duplicates)}`,
    `commands without event ${report.lost}${list(report.lostIds, report.lost)}`,
    `events without command ${report.orphans}${list(report.orphanIds, report.orphans)}`,
    `end-to-end latency    ${latency}  (tick created -> event created)`,
    `read                  ${
      report.complete ? "to the end of both topics" : "NOT to the end (time limit)"
    } in ${(report.elapsedMs / 1000).toFixed(1)} s`,
    report.ok ? "OK: every command has exactly one event" : "FAILED: duplicates or lost orders",
  ].join("\n");
}

/** Runs the verifier; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const json = args.includes("--json");
  const positional = args.filter((a) => a !== "--json");
  const seconds = Number(positional[0]);
  if (positional.length < 1 || positional.length > 2 || !(seconds > 0)) {
    console.error(
      positional.length === 0
        ? USAGE
        : `Invalid seconds "${positional[0] ?? ""}": expected a number > 0\n${USAGE}`,
    );
    return CONFIG_EXIT_CODE;
  }
  const env = Deno.env.toObject();
  const { KAFKA_BROKERS: brokers } = loadConfig(
    { KAFKA_BROKERS: hostPortList("127.0.0.1:9092") },
    positional[1] === undefined ? env : { KAFKA_BROKERS: positional[1] },
  );
  // kafkajs warnings go to stderr as JSON lines; stdout carries only the report.
  await setupLogging("verifier", "error");
  const kafka = createKafka({
    clientId: "verifier",
    brokers,
    overrides: { retry: { retries: 3 } },
  });
  const progress = new Progress("verify", "records");
  try {
    const report = await verifyPipeline({
      kafka,
      timeoutMs: seconds * 1000,
      onProgress: (records) => progress.set(records),
    });
    progress.done();
    console.log(json ? JSON.stringify(report) : formatReport(report));
    return report.ok ? 0 : 1;
  } catch (error) {
    console.error(`Verification failed: ${errorMessage(error)}`);
    return 1;
  } finally {
    await resetLogging();
  }
}
