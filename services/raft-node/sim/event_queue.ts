/**
 * The simulator's agenda: events ordered by virtual time, ties broken by insertion order so
 * that a run is fully determined by its seed.
 *
 * @module
 */

/** A binary min-heap of `(time, sequence)` keyed items. */
export class EventQueue<T> {
  #times: number[] = [];
  #seqs: number[] = [];
  #items: T[] = [];
  #seq = 0;

  /** Number of queued events. */
  get size(): number {
    return this.#items.length;
  }

  /** Queues `item` at virtual time `time`. */
  push(time: number, item: T): void {
    this.#times.push(time);
    this.#seqs.push(this.#seq++);
    this.#items.push(item);
    this.#up(this.#items.length - 1);
  }

  /** The time of the earliest event, or Infinity. */
  peekTime(): number {
    return this.#times[0] ?? Infinity;
  }

  /** Removes and returns the earliest event. */
  pop(): { time: number; item: T } | undefined {
    const n = this.#items.length;
    if (n === 0) return undefined;
    const time = this.#times[0]!;
    const item = this.#items[0]!;
    this.#swap(0, n - 1);
    this.#times.pop();
    this.#seqs.pop();
    this.#items.pop();
    this.#down(0);
    return { time, item };
  }

  #less(i: number, j: number): boolean {
    const ti = this.#times[i]!;
    const tj = this.#times[j]!;
    return ti < tj || (ti === tj && this.#seqs[i]! < this.#seqs[j]!);
  }

  #swap(i: number, j: number): void {
    [this.#times[i], this.#times[j]] = [this.#times[j]!, this.#times[i]!];
    [this.#seqs[i], this.#seqs[j]] = [this.#seqs[j]!, this.#seqs[i]!];
    [this.#items[i], this.#items[j]] = [this.#items[j]!, this.#items[i]!];
  }

  #up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) return;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #down(i: number): void {
    const n = this.#items.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.#less(l, m)) m = l;
      if (r < n && this.#less(r, m)) m = r;
      if (m === i) return;
      this.#swap(i, m);
      i = m;
    }
  }
}
