/**
 * The process's Prometheus registry (prom-client). Every metric of a process registers here,
 * and the health server serves it at `/metrics`.
 *
 * @module
 */
import client from "prom-client";

export { client as prom };

/** The one registry of this process. */
export const registry: client.Registry = new client.Registry();

let defaultsStarted = false;

/**
 * Labels every metric with `service` and starts the default process metrics (CPU, memory,
 * event-loop lag). Call once from a process's main, not from tests.
 */
export function initMetrics(service: string): void {
  registry.setDefaultLabels({ service });
  if (!defaultsStarted) {
    defaultsStarted = true;
    client.collectDefaultMetrics({ register: registry });
  }
}

/** A counter on the process registry. */
export function counter<L extends string = string>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): client.Counter<L> {
  return existing(name) ??
    new client.Counter<L>({ name, help, labelNames, registers: [registry] });
}

/** A gauge on the process registry; `collect` runs before each scrape. */
export function gauge<L extends string = string>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  collect?: (this: client.Gauge<L>) => void | Promise<void>,
): client.Gauge<L> {
  return existing(name) ??
    new client.Gauge<L>({
      name,
      help,
      labelNames,
      registers: [registry],
      ...(collect ? { collect } : {}),
    });
}

/** Latency buckets in seconds, from 0.1 ms to 10 s. */
export const LATENCY_BUCKETS_SECONDS = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** A histogram on the process registry (latency buckets in seconds by default). */
export function histogram<L extends string = string>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  buckets: number[] = LATENCY_BUCKETS_SECONDS,
): client.Histogram<L> {
  return existing(name) ??
    new client.Histogram<L>({ name, help, labelNames, buckets, registers: [registry] });
}

function existing<T>(name: string): T | undefined {
  // A module loaded twice (tests) must not register a metric twice: prom-client throws.
  return registry.getSingleMetric(name) as T | undefined;
}

/** The registry's content in the Prometheus text format. */
export function metricsText(): Promise<string> {
  return registry.metrics();
}

/**
 * The value of the series of metric `name` whose labels include every one of `labels`
 * (0 when the metric or the series does not exist yet): for tests and probes that read what
 * this process counted.
 */
export async function metricValue(
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return 0;
  const { values } = await metric.get();
  const wanted = Object.entries(labels);
  return values.find((v) => wanted.every(([k, value]) => v.labels[k] === value))?.value ?? 0;
}
