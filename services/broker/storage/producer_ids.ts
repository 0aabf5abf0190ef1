/**
 * Allocates producer ids for InitProducerId that are unique across broker restarts: ids are
 * handed out from blocks, and the end of the current block is persisted (and fsynced) in
 * `_meta/producer_id_block` before any id of the block is used.
 *
 * @module
 */
import { join } from "node:path";

const BLOCK = 1000;

/** The producer id allocator. */
export class ProducerIdAllocator {
  private next = 0;
  private blockEnd = 0;
  private allocating: Promise<void> | undefined;

  private constructor(private readonly path: string) {}

  /** Opens the allocator in `metaDir`. */
  static async open(metaDir: string): Promise<ProducerIdAllocator> {
    await Deno.mkdir(metaDir, { recursive: true });
    const allocator = new ProducerIdAllocator(join(metaDir, "producer_id_block"));
    try {
      const text = (await Deno.readTextFile(allocator.path)).trim();
      if (/^\d+$/.test(text)) allocator.next = allocator.blockEnd = Number(text);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return allocator;
  }

  /** Returns a producer id never returned before by this data dir. */
  async allocate(): Promise<number> {
    while (this.next >= this.blockEnd) {
      this.allocating ??= this.reserveBlock().finally(() => {
        this.allocating = undefined;
      });
      await this.allocating;
    }
    return this.next++;
  }

  private async reserveBlock(): Promise<void> {
    const end = this.blockEnd + BLOCK;
    const tmp = `${this.path}.tmp`;
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      await file.write(new TextEncoder().encode(`${end}\n`));
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, this.path);
    this.blockEnd = end;
  }
}
