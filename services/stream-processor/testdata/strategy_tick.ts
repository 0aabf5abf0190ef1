// Ticks of one symbol for the strategy tests: a spread of 2 around the price.
import { Tick } from "@trading/proto";

/** The tick `sequence` of symbol AAA at `price`, bid one below and ask one above. */
export function strategyTick(sequence: number, price: number): Tick {
  return Tick.fromPartial({
    symbol: "AAA",
    sequence,
    price,
    size: 1,
    bid: price - 1,
    ask: price + 1,
    createdAtUs: 1,
    source: "synthetic",
  });
}
