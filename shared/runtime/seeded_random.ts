/**
 * The one seeded pseudo-random generator (mulberry32: small, fast and well mixed; unlike
 * `Math.random`, reproducible), so that a synthetic market with the same seed produces the
 * same ticks, and a chaos schedule with the same seed the same faults at the same moments, on
 * every machine and every run.
 *
 * @module
 */

/**
 * A deterministic source of random numbers from a seed.
 *
 * @example
 * ```ts
 * const random = new SeededRandom(42);
 * random.int(1, 6); // the same first roll for seed 42, every time
 * ```
 */
export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    // Fold seeds above 2^32 into 32 bits so that every integer seed is usable.
    this.#state = (seed ^ Math.floor(seed / 2 ** 32)) >>> 0;
  }

  /** Returns a float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Returns an integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
}

/** Mixes a string into a 32-bit seed (FNV-1a), to derive per-symbol or per-restart seeds. */
export function hashSeed(seed: number, text: string): number {
  let hash = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
