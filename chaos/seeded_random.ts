/**
 * A seeded pseudo-random generator for the chaos schedules, so that the same seed gives the
 * same faults at the same moments.
 *
 * @module
 */

/**
 * Returns a generator of numbers in [0, 1) from `seed` (mulberry32: small, fast and well
 * mixed; unlike Math.random, reproducible).
 *
 * @example
 * ```ts
 * const random = seededRandom(42);
 * random(); // the same first number for seed 42, every time
 * ```
 */
export function seededRandom(seed: number): () => number {
  let a = (seed >>> 0) ^ 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [min, max] drawn from `random`. */
export function randomInt(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}
