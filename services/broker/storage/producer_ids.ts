/**
 * Allocates producer ids for InitProducerId that are unique across broker restarts, and
 * remembers which ids it handed out so that Produce can refuse an id a client made up.
 *
 * Ids are handed out from blocks: the end of the current block is persisted (and fsynced) in
 * `_meta/producer_id_block` before any id of the block is used. Every id handed out is also
 * appended to `_meta/producer_ids` and fsynced before InitProducerId answers, so a restarted
 * broker still knows its live producers. A data dir written before `producer_ids` existed
 * trusts every id below its block end (recorded once as a `legacy <n>` line), since any of
 * them may have been handed out.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { syncDirectory, writeFileDurably } from "./durable_file.ts";

const BLOCK = 1000;

/** The producer id allocator. */
export class ProducerIdAllocator {
  private next = 0;
  private blockEnd = 0;
  private allocating: Promise<void> | undefined;
  /** Ids below this were handed out by a broker that did not record them one by one. */
  private legacyBelow = 0;
  private readonly allocated = new Set<number>();
  private appending: Promise<void> = Promise.resolve();
  /** Whether this run fsynced the directory since it may have created `producer_ids`. */
  private idsEntrySynced = false;

  private constructor(private readonly path: string, private readonly idsPath: string) {}

  /** Opens the allocator in `metaDir`. */
  static async open(metaDir: string): Promise<ProducerIdAllocator> {
    await Deno.mkdir(metaDir, { recursive: true });
    const allocator = new ProducerIdAllocator(
      join(metaDir, "producer_id_block"),
      join(metaDir, "producer_ids"),
    );
    try {
      const text = (await Deno.readTextFile(allocator.path)).trim();
      if (/^\d+$/.test(text)) allocator.next = allocator.blockEnd = Number(text);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    let ids: string | undefined;
    try {
      ids = await Deno.readTextFile(allocator.idsPath);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (ids === undefined) {
      if (allocator.blockEnd > 0) await allocator.appendLine(`legacy ${allocator.blockEnd}`);
      allocator.legacyBelow = allocator.blockEnd;
    } else {
      // A torn last line (a crash mid-append, before InitProducerId answered) is cut off so
      // the next append starts a line of its own. The file is ASCII: string index = byte.
      const complete = ids.lastIndexOf("\n") + 1;
      if (complete < ids.length) await Deno.truncate(allocator.idsPath, complete);
      for (const line of ids.slice(0, complete).split("\n")) {
        const legacy = /^legacy (\d+)$/.exec(line);
        if (legacy) allocator.legacyBelow = Math.max(allocator.legacyBelow, Number(legacy[1]));
        else if (/^\d+$/.test(line)) allocator.allocated.add(Number(line));
      }
    }
    return allocator;
  }

  /** Returns a producer id never returned before by this data dir, once it is persisted. */
  async allocate(): Promise<number> {
    while (this.next >= this.blockEnd) {
      this.allocating ??= this.reserveBlock().finally(() => {
        this.allocating = undefined;
      });
      await this.allocating;
    }
    const id = this.next++;
    await this.appendLine(String(id));
    this.allocated.add(id);
    return id;
  }

  /** Whether `producerId` was handed out by `allocate` (in this run or an earlier one). */
  isAllocated(producerId: number): boolean {
    return (producerId >= 0 && producerId < this.legacyBelow) || this.allocated.has(producerId);
  }

  private appendLine(line: string): Promise<void> {
    const done = this.appending.then(async () => {
      const file = await Deno.open(this.idsPath, { append: true, create: true });
      try {
        const bytes = new TextEncoder().encode(`${line}\n`);
        for (let written = 0; written < bytes.length;) {
          written += await file.write(bytes.subarray(written));
        }
        await file.syncData();
      } finally {
        file.close();
      }
      // The first append may have created the file: its directory entry must be durable
      // before InitProducerId answers, or a power loss forgets every id in it.
      if (!this.idsEntrySynced) {
        await syncDirectory(dirname(this.idsPath));
        this.idsEntrySynced = true;
      }
    });
    this.appending = done.catch(() => {});
    return done;
  }

  private async reserveBlock(): Promise<void> {
    const end = this.blockEnd + BLOCK;
    await writeFileDurably(this.path, `${end}\n`);
    this.blockEnd = end;
  }
}
