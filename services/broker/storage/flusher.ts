/**
 * Group commit for fsync: every partition with unsynced writes asks for a sync; while one
 * sync round runs, new requests gather and share the next round. So a produce request with
 * acks=-1 waits for at most one round in progress plus its own, and N concurrent producers
 * cost one fdatasync per partition per round instead of N.
 *
 * @module
 */

/** Something that can make its written data durable. */
export interface Syncable {
  /** Makes everything written so far durable and publishes it. */
  sync(): Promise<void>;
}

/** The broker-wide group-commit scheduler. */
export class Flusher {
  private readonly dirty = new Set<Syncable>();
  private running: Promise<void> | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** Number of sync rounds done (for metrics and tests). */
  rounds = 0;

  /**
   * @param intervalMs undefined: sync as soon as something is dirty (per-request durability);
   * a number: sync every `intervalMs` on a timer (interval mode).
   */
  constructor(private readonly intervalMs?: number) {
    if (intervalMs !== undefined) {
      this.timer = setInterval(() => this.kick(), intervalMs);
    }
  }

  /** Marks `target` as having unsynced data. */
  markDirty(target: Syncable): void {
    this.dirty.add(target);
    if (this.intervalMs === undefined) this.kick();
  }

  private kick(): void {
    if (this.running !== undefined || this.dirty.size === 0) return;
    this.running = this.loop().finally(() => {
      this.running = undefined;
      // A partition marked dirty after the loop's last check but before this callback found
      // `running` set and did not kick: without this, its acks=-1 producers would wait until
      // some other write came along (forever, for a lone producer awaiting its ack).
      if (this.intervalMs === undefined) this.kick();
    });
  }

  private async loop(): Promise<void> {
    while (this.dirty.size > 0) {
      const round = [...this.dirty];
      this.dirty.clear();
      await Promise.all(round.map((target) => target.sync()));
      this.rounds++;
      if (this.intervalMs !== undefined) break;
    }
  }

  /** Syncs everything dirty now and waits for it; stops the interval timer. */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** Syncs everything dirty and waits until done. */
  async flush(): Promise<void> {
    while (this.running !== undefined || this.dirty.size > 0) {
      if (this.running === undefined) {
        this.running = this.loopAll().finally(() => {
          this.running = undefined;
        });
      }
      await this.running;
    }
  }

  private async loopAll(): Promise<void> {
    while (this.dirty.size > 0) {
      const round = [...this.dirty];
      this.dirty.clear();
      await Promise.all(round.map((target) => target.sync()));
      this.rounds++;
    }
  }
}
