/**
 * Reading the Prometheus text format (version 0.0.4) that every process serves on `/metrics`
 * (written by prom-client), for the dashboard's aggregation: samples, sums over label
 * filters, and quantiles from histogram buckets.
 *
 * @module
 */

/** One sample line: `name{label="value",...} value`. */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Parses Prometheus text exposition into samples. Comment and blank lines are skipped, and
 * so is a line that does not parse (one odd line must not hide the rest of a scrape).
 */
export function parsePrometheusText(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const sample = parseLine(line);
    if (sample) samples.push(sample);
  }
  return samples;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

function parseLine(line: string): MetricSample | undefined {
  const name = NAME.exec(line)?.[0];
  if (!name) return undefined;
  let rest = line.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith("{")) {
    const end = parseLabels(rest, labels);
    if (end < 0) return undefined;
    rest = rest.slice(end);
  }
  // The value, then an optional timestamp (ignored).
  const [valueText] = rest.trim().split(/\s+/);
  if (valueText === undefined || valueText === "") return undefined;
  const value = parseValue(valueText);
  return value === undefined ? undefined : { name, labels, value };
}

/** Parses `{a="1",b="x\"y"}` into `labels`; returns the index after `}` or -1. */
function parseLabels(text: string, labels: Record<string, string>): number {
  let i = 1;
  while (i < text.length) {
    while (text[i] === " " || text[i] === ",") i++;
    if (text[i] === "}") return i + 1;
    const key = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i))?.[0];
    if (!key || text[i + key.length] !== "=" || text[i + key.length + 1] !== '"') return -1;
    i += key.length + 2;
    let value = "";
    while (i < text.length && text[i] !== '"') {
      // The format escapes exactly three characters in label values: \\, \" and \n.
      if (text[i] === "\\") {
        const next = text[i + 1];
        value += next === "n" ? "\n" : next ?? "";
        i += 2;
      } else {
        value += text[i];
        i++;
      }
    }
    if (text[i] !== '"') return -1;
    labels[key] = value;
    i++;
  }
  return -1;
}

function parseValue(text: string): number | undefined {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  const value = Number(text);
  return Number.isNaN(value) ? undefined : value;
}

/** True when every entry of `filter` equals the sample's label. */
export function labelsMatch(
  sample: MetricSample,
  filter: Readonly<Record<string, string>> = {},
): boolean {
  return Object.entries(filter).every(([key, value]) => sample.labels[key] === value);
}

/** The sum of the samples named `name` whose labels match `filter`; undefined when none. */
export function sumOf(
  samples: readonly MetricSample[],
  name: string,
  filter: Readonly<Record<string, string>> = {},
): number | undefined {
  let sum: number | undefined;
  for (const sample of samples) {
    if (sample.name === name && labelsMatch(sample, filter)) sum = (sum ?? 0) + sample.value;
  }
  return sum;
}

/** One cumulative histogram bucket: observations less than or equal to `le`. */
export interface Bucket {
  le: number;
  count: number;
}

/**
 * The cumulative buckets of histogram `name` (the `<name>_bucket` samples, summed over every
 * other label), sorted by `le`.
 */
export function bucketsOf(samples: readonly MetricSample[], name: string): Bucket[] {
  const byBound = new Map<number, number>();
  for (const sample of samples) {
    if (sample.name !== `${name}_bucket`) continue;
    const bound = parseValue(sample.labels.le ?? "");
    if (bound === undefined) continue;
    byBound.set(bound, (byBound.get(bound) ?? 0) + sample.value);
  }
  return [...byBound].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

/** `current` minus `previous` bucket by bucket (the observations between two scrapes). */
export function bucketsDelta(current: readonly Bucket[], previous: readonly Bucket[]): Bucket[] {
  const before = new Map(previous.map((b) => [b.le, b.count]));
  // A counter that went down means the process restarted: its current value is the delta.
  const restarted = current.some((b) => b.count < (before.get(b.le) ?? 0));
  return current.map((b) => ({
    le: b.le,
    count: restarted ? b.count : b.count - (before.get(b.le) ?? 0),
  }));
}

/**
 * The `q` quantile (0-1) of a cumulative histogram, interpolated linearly inside the bucket
 * like PromQL's `histogram_quantile`; undefined when it holds no observation. A quantile in
 * the `+Inf` bucket returns the highest finite bound.
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number | undefined {
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const { le, count } of buckets) {
    if (count >= rank) {
      if (le === Infinity) return lowerBound;
      if (count === lowerCount) return le;
      return lowerBound + ((le - lowerBound) * (rank - lowerCount)) / (count - lowerCount);
    }
    lowerBound = le;
    lowerCount = count;
  }
  return lowerBound;
}
