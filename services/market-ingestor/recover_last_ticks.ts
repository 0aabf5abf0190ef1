/**
 * Where each symbol's sequence continues after a restart, read back from `market.ticks`.
 *
 * Why read the log instead of persisting a counter before publishing: the log is the only
 * place where "published" is decided. A counter saved before the send would leave a gap when
 * the send then fails or the process dies (the number is burnt but never appears), and one
 * saved after the send would be reused when the process dies in between. The last tick of a
 * symbol in its partition is exactly the last number that was published, so continuing from
 * it gives no gaps and no reuse. The ingestor's producer is idempotent and sends one batch at
 * a time, so within a partition the log holds a symbol's sequences in increasing order.
 *
 * Ticks are keyed by symbol, so a symbol lives in one partition: the reader scans that
 * partition backwards in growing windows until every symbol of it is found (or its start).
 *
 * @module
 */
import type { PartitionReader } from "@trading/shared/partition-reader";
import { partitionForKey } from "@trading/shared/partition-for-key";
import { decodeTick } from "@trading/shared/tick-schema";

/** The last published tick of a symbol: its sequence and price. */
export interface LastTick {
  sequence: number;
  price: number;
}

/**
 * Returns the last published sequence and price of each of `symbols` found in `topic`
 * (symbols never published are absent). Invalid records are ignored.
 */
export async function recoverLastTicks(
  reader: PartitionReader,
  topic: string,
  symbols: readonly string[],
  { initialWindow = 1000 }: { initialWindow?: number } = {},
): Promise<Map<string, LastTick>> {
  const found = new Map<string, LastTick>();
  const offsets = await reader.offsets(topic);
  if (offsets.length === 0) return found;
  const bySymbolPartition = new Map<number, Set<string>>();
  for (const symbol of symbols) {
    const partition = partitionForKey(symbol, offsets.length);
    const set = bySymbolPartition.get(partition) ?? new Set();
    set.add(symbol);
    bySymbolPartition.set(partition, set);
  }
  const decoder = new TextDecoder();
  await Promise.all([...bySymbolPartition].map(async ([partition, wanted]) => {
    const range = offsets.find((o) => o.partition === partition);
    if (!range) return;
    let high = range.high;
    let window = initialWindow;
    while (wanted.size > 0 && high > range.low) {
      const low = Math.max(range.low, high - window);
      const inWindow = new Map<string, LastTick>();
      await reader.readRange(topic, partition, low, high, (record) => {
        const symbol = record.key === null ? undefined : decoder.decode(record.key);
        if (symbol === undefined || !wanted.has(symbol)) return;
        try {
          const tick = decodeTick(record.value);
          const last = inWindow.get(symbol);
          if (tick.symbol === symbol && (!last || tick.sequence > last.sequence)) {
            inWindow.set(symbol, { sequence: tick.sequence, price: tick.price });
          }
        } catch {
          // Not a tick we wrote (the processor dead-letters it): it holds no sequence.
        }
      });
      for (const [symbol, last] of inWindow) {
        found.set(symbol, last);
        wanted.delete(symbol);
      }
      high = low;
      window *= 2;
    }
  }));
  return found;
}
