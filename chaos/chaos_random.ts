/**
 * The random source of the chaos schedules, from their seed.
 *
 * @module
 */
import { SeededRandom } from "@trading/shared/seeded-random";

/**
 * Returns the generator of a chaos schedule's seed. The seed is mixed with 0x9e3779b9 first,
 * as the schedules always did, so that a seed printed by an earlier run replays the same
 * faults at the same moments.
 */
export function chaosRandom(seed: number): SeededRandom {
  return new SeededRandom(((seed >>> 0) ^ 0x9e3779b9) >>> 0);
}
