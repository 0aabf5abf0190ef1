/**
 * Start and stop order from `dependsOn`: children are grouped in waves, each wave depending
 * only on earlier ones, so independent children start (and stop) together.
 *
 * @module
 */

/** The part of a child spec that orders it. */
export interface Dependent {
  name: string;
  dependsOn: readonly string[];
}

/**
 * Returns the start waves: the first holds the children that depend on nothing, each later
 * one the children whose dependencies are all in earlier waves. Unknown dependency names are
 * ignored. Throws an Error naming the children of a dependency cycle.
 */
export function dependencyWaves<T extends Dependent>(specs: readonly T[]): T[][] {
  const known = new Set(specs.map((s) => s.name));
  const placed = new Set<string>();
  const waves: T[][] = [];
  let remaining = [...specs];
  while (remaining.length > 0) {
    const wave = remaining.filter((s) => s.dependsOn.every((d) => !known.has(d) || placed.has(d)));
    if (wave.length === 0) {
      throw new Error(
        `Dependency cycle among ${remaining.map((s) => s.name).join(", ")}: expected none`,
      );
    }
    for (const s of wave) placed.add(s.name);
    waves.push(wave);
    remaining = remaining.filter((s) => !placed.has(s.name));
  }
  return waves;
}

/**
 * Returns the stop waves, the reverse of the start order: a child stops only after every
 * child that depends on it (directly or not) has stopped.
 */
export function stopWaves<T extends Dependent>(specs: readonly T[]): T[][] {
  // Rank by the longest chain of dependents, so that a child with no dependents stops first
  // even when it started early.
  const dependents = new Map<string, T[]>();
  for (const spec of specs) {
    for (const d of spec.dependsOn) dependents.set(d, [...(dependents.get(d) ?? []), spec]);
  }
  const rank = new Map<string, number>();
  for (const wave of dependencyWaves(specs).reverse()) {
    for (const spec of wave) {
      const above = (dependents.get(spec.name) ?? []).map((d) => rank.get(d.name)! + 1);
      rank.set(spec.name, Math.max(0, ...above));
    }
  }
  const waves: T[][] = [];
  for (const spec of specs) {
    const r = rank.get(spec.name)!;
    (waves[r] ??= []).push(spec);
  }
  return waves.filter((w) => w.length > 0);
}
