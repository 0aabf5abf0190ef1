import assert from "node:assert/strict";
import { tempDir } from "@trading/testing";
import {
  CorruptLogError,
  frameRecord,
  RECORD_HEADER_BYTES,
  SegmentedLog,
  type SegmentedLogOptions,
  segmentFileName,
} from "./log_file.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function syncNow(log: SegmentedLog): Promise<boolean> {
  return new Promise((resolve, reject) => log.sync(resolve, reject));
}

/** No preallocation: the file ends where the records do. */
const GROWING: SegmentedLogOptions = { preallocateBytes: 0 };

/**
 * A log in `dir` with `payloads` appended (one segment) and synced, then closed (by default
 * without preallocation, so the file ends with the last record).
 */
async function writeLog(
  dir: string,
  payloads: string[],
  options: SegmentedLogOptions = GROWING,
): Promise<string> {
  const { log } = SegmentedLog.open(dir, options);
  log.roll(frameRecord(bytes("start")));
  for (const p of payloads) log.append(bytes(p), true);
  await syncNow(log);
  await log.close();
  return `${dir}/${segmentFileName(log.segments.at(-1)!)}`;
}

function readBack(dir: string): { records: string[]; cut: string | undefined } {
  const opened = SegmentedLog.open(dir);
  void opened.log.close();
  return {
    records: opened.records.map((r) => text(r.payload)),
    cut: opened.cut?.reason,
  };
}

function appendBytes(path: string, extra: Uint8Array): void {
  const file = Deno.openSync(path, { append: true });
  file.writeSync(extra);
  file.close();
}

Deno.test("SegmentedLog.open() reads back every record synced before a close, in order", async () => {
  await using dir = await tempDir();
  await writeLog(dir.path, ["a", "b", "c"]);
  const { records, cut } = readBack(dir.path);
  assert.deepEqual(records, ["start", "a", "b", "c"]);
  assert.equal(cut, undefined);
});

Deno.test("SegmentedLog.open() cuts a partial record at the tail and appends after the cut", async () => {
  await using dir = await tempDir();
  const path = await writeLog(dir.path, ["a", "b"]);
  const validLength = Deno.statSync(path).size;
  // A torn write: the header and half the payload of a record.
  const torn = frameRecord(bytes("a record the crash tore in half"));
  appendBytes(path, torn.subarray(0, RECORD_HEADER_BYTES + 10));
  const opened = SegmentedLog.open(dir.path);
  assert.deepEqual(opened.records.map((r) => text(r.payload)), ["start", "a", "b"]);
  assert.equal(opened.cut?.offset, validLength);
  assert.equal(opened.cut?.bytes, RECORD_HEADER_BYTES + 10);
  assert.match(opened.cut!.reason, /cut short/);
  assert.equal(Deno.statSync(path).size, validLength, "the file is truncated at the cut");
  opened.log.roll(frameRecord(bytes("start2")));
  opened.log.append(bytes("c"), true);
  await syncNow(opened.log);
  await opened.log.close();
  assert.deepEqual(readBack(dir.path), {
    records: ["start", "a", "b", "start2", "c"],
    cut: undefined,
  });
});

Deno.test("SegmentedLog.open() cuts a header cut short, and reads a zeroed tail as the end (no cut)", async () => {
  await using dir = await tempDir();
  const path = await writeLog(dir.path, ["a"]);
  const validLength = Deno.statSync(path).size;
  appendBytes(path, new Uint8Array(5).fill(7));
  const cutShort = readBack(dir.path);
  assert.deepEqual(cutShort.records, ["start", "a"]);
  assert.match(cutShort.cut!, /cut short/);
  appendBytes(path, new Uint8Array(4096));
  const again = readBack(dir.path);
  assert.deepEqual(again.records, ["start", "a"]);
  assert.equal(again.cut, undefined, "zeros to the end of the file are a preallocated tail");
  assert.equal(Deno.statSync(path).size, validLength + 4096, "and are left in place");
  // Zeros shorter than a header, too.
  Deno.truncateSync(path, validLength + 3);
  assert.deepEqual(readBack(dir.path), { records: ["start", "a"], cut: undefined });
});

Deno.test("SegmentedLog.open() cuts a record with a zeroed block in it (pages of a write that did not land)", async () => {
  await using dir = await tempDir();
  const path = await writeLog(dir.path, ["a"]);
  const big = frameRecord(new Uint8Array(3000).fill(0x41));
  big.fill(0, 1024, 2048);
  const after = frameRecord(bytes("written back although the block before it was not"));
  appendBytes(path, big);
  appendBytes(path, after);
  const { records, cut } = readBack(dir.path);
  assert.deepEqual(records, ["start", "a"]);
  assert.match(cut!, /zeroed block/);
});

Deno.test("SegmentedLog.open() cuts a CRC mismatch in the last record but refuses one with records after it", async () => {
  await using dir = await tempDir();
  const path = await writeLog(dir.path, ["first", "middle", "last"]);
  const original = Deno.readFileSync(path);
  const recordEnd = (n: number) => {
    let offset = 0;
    const view = new DataView(original.buffer);
    for (let i = 0; i < n; i++) offset += RECORD_HEADER_BYTES + view.getUint32(offset, true);
    return offset;
  };
  // A flipped byte in the payload of the last record: a tail, cut.
  const tail = original.slice();
  tail[tail.length - 1]! ^= 0xff;
  Deno.writeFileSync(path, tail);
  const cutTail = readBack(dir.path);
  assert.deepEqual(cutTail.records, ["start", "first", "middle"]);
  assert.match(cutTail.cut!, /CRC mismatch/);
  // The same in the middle record, with an intact one after it: refused, nothing cut.
  const middle = original.slice();
  middle[recordEnd(2) + RECORD_HEADER_BYTES]! ^= 0xff;
  Deno.writeFileSync(path, middle);
  assert.throws(
    () => SegmentedLog.open(dir.path),
    (error) =>
      error instanceof CorruptLogError &&
      /CRC mismatch with intact data after it/.test(error.message) &&
      error.message.includes(path),
  );
  assert.equal(Deno.statSync(path).size, original.length, "nothing was cut");
});

Deno.test("SegmentedLog.open() refuses a damaged record in a segment that is not the last", async () => {
  await using dir = await tempDir();
  const { log } = SegmentedLog.open(dir.path);
  log.roll(frameRecord(bytes("one")));
  log.append(bytes("a"), true);
  log.roll(frameRecord(bytes("two")));
  log.append(bytes("b"), true);
  await syncNow(log);
  await log.close();
  assert.equal(log.fsyncs, 2, "one fdatasync per segment the group wrote");
  const first = `${dir.path}/${segmentFileName(1)}`;
  const data = Deno.readFileSync(first);
  Deno.writeFileSync(first, data.subarray(0, data.length - 2));
  assert.throws(() => SegmentedLog.open(dir.path), /not the last/);
});

Deno.test("SegmentedLog.sync() writes the appends made while a sync is in flight in one more fdatasync", async () => {
  await using dir = await tempDir();
  const { log } = SegmentedLog.open(dir.path);
  log.roll(frameRecord(bytes("start")));
  log.append(bytes("first"), true);
  const synced: string[] = [];
  log.sync(() => synced.push("first"), (error) => assert.fail(String(error)));
  assert.equal(log.syncing, true, "the first group's fdatasync runs off the event loop");
  for (let i = 0; i < 100; i++) {
    log.append(bytes(`r${i}`), true);
    log.sync(() => synced.push(`r${i}`), (error) => assert.fail(String(error)));
  }
  await syncNow(log);
  assert.equal(synced.length, 101);
  assert.equal(synced[0], "first");
  assert.equal(log.fsyncs, 2, "101 syncs asked, 2 fdatasyncs done");
  assert.equal(log.groups, 2);
  await log.close();
  assert.equal(readBack(dir.path).records.length, 102);
});

Deno.test("SegmentedLog.sync() calls done(false) at once when nothing must be synced", async () => {
  await using dir = await tempDir();
  const { log } = SegmentedLog.open(dir.path);
  log.roll(frameRecord(bytes("start")));
  log.append(bytes("lazy"), false);
  let answer: boolean | undefined;
  log.sync((synced) => answer = synced, (error) => assert.fail(String(error)));
  assert.equal(answer, false);
  assert.equal(log.fsyncs, 0);
  await log.close();
  assert.deepEqual(readBack(dir.path).records, ["start", "lazy"], "close wrote it");
});

Deno.test("SegmentedLog.removeSegmentsBefore() deletes whole old segments, never the one in use", async () => {
  await using dir = await tempDir();
  const { log } = SegmentedLog.open(dir.path);
  for (let s = 0; s < 4; s++) {
    log.roll(frameRecord(bytes(`segment ${s}`)));
    log.append(bytes(`entry ${s}`), true);
    await syncNow(log);
  }
  assert.deepEqual(log.segments, [1, 2, 3, 4]);
  assert.deepEqual(log.removeSegmentsBefore(3), [1, 2]);
  assert.deepEqual(log.removeSegmentsBefore(100), [3]);
  await log.close();
  assert.deepEqual(readBack(dir.path).records, ["segment 3", "entry 3"]);
});

/**
 * Runs `fn` while recording the path of every file opened with `Deno.openSync` whose data is
 * then synced (`syncDataSync` or `syncSync`), in order.
 */
function recordingSyncs<T>(fn: () => T): { result: T; synced: string[] } {
  const synced: string[] = [];
  const openSync = Deno.openSync;
  Deno.openSync = (path: string | URL, options?: Deno.OpenOptions) => {
    const file = openSync(path, options);
    const syncData = file.syncDataSync.bind(file);
    const sync = file.syncSync.bind(file);
    file.syncDataSync = () => {
      synced.push(String(path));
      syncData();
    };
    file.syncSync = () => {
      synced.push(String(path));
      sync();
    };
    return file;
  };
  try {
    return { result: fn(), synced };
  } finally {
    Deno.openSync = openSync;
  }
}

Deno.test("SegmentedLog.open() syncs the last segment, whose records a killed writer may not have synced", async () => {
  await using dir = await tempDir();
  const path = await writeLog(dir.path, ["a"]);
  // What a writer killed between its write and its fdatasync leaves: a whole record in the
  // page cache, read back like a synced one. The next group goes to a new segment, so no
  // later fdatasync covers this file: open must, or a power loss could take the record back
  // (after the node acted on it) and leave damage in a segment that is no longer the last.
  appendBytes(path, frameRecord(bytes("b, written but not synced")));
  const { result: opened, synced } = recordingSyncs(() => SegmentedLog.open(dir.path));
  assert.deepEqual(opened.records.map((r) => text(r.payload)), [
    "start",
    "a",
    "b, written but not synced",
  ]);
  assert.equal(opened.cut, undefined);
  assert.ok(synced.includes(path), `expected ${path} synced at open, synced: ${synced}`);
  assert.ok(synced.includes(dir.path), "and its directory (the segment's name)");
  await opened.log.close();
});

// ---------------------------------------------------------------------------------------------
// Preallocation: the segment being written is zero-filled ahead of the write offset.
// ---------------------------------------------------------------------------------------------

const PREALLOCATE = 16 * 1024;

/** Bytes of the framed records of `payloads`. */
const framedBytes = (payloads: string[]) =>
  payloads.reduce((sum, p) => sum + RECORD_HEADER_BYTES + bytes(p).length, 0);

Deno.test("SegmentedLog keeps the segment it writes preallocated ahead of the write offset", async () => {
  await using dir = await tempDir();
  const { log } = SegmentedLog.open(dir.path, { preallocateBytes: PREALLOCATE });
  log.roll(frameRecord(bytes("start")));
  const path = `${dir.path}/${segmentFileName(log.appendSegment)}`;
  const payloads = ["start"];
  for (let i = 0; i < 400; i++) {
    const payload = `record ${i} `.padEnd(40 + (i % 60), "x");
    payloads.push(payload);
    log.append(bytes(payload), true);
    await syncNow(log);
    await log.preallocated();
    const written = log.appendSegmentBytes;
    assert.equal(written, framedBytes(payloads));
    const size = Deno.statSync(path).size;
    assert.ok(
      size - written >= PREALLOCATE / 4,
      `after ${i + 1} appends: file ${size} bytes, records end at ${written}`,
    );
  }
  assert.equal(log.preallocationError, undefined);
  await log.close();
  const size = Deno.statSync(path).size;
  const opened = SegmentedLog.open(dir.path);
  assert.deepEqual(opened.records.map((r) => text(r.payload)), payloads, "every record");
  assert.equal(opened.cut, undefined, "the zeros after them are no torn tail");
  assert.equal(Deno.statSync(path).size, size, "nothing was cut");
  await opened.log.close();
});

Deno.test("SegmentedLog writes over the zeros it preallocated, not at the end of the file", async () => {
  await using dir = await tempDir();
  const { log } = SegmentedLog.open(dir.path, { preallocateBytes: PREALLOCATE });
  log.roll(frameRecord(bytes("start")));
  log.append(bytes("a"), true);
  await syncNow(log);
  await log.preallocated();
  const path = `${dir.path}/${segmentFileName(log.appendSegment)}`;
  const size = Deno.statSync(path).size;
  assert.equal(size, framedBytes(["start", "a"]) + PREALLOCATE, "zeros after the records");
  log.append(bytes("b"), true);
  await syncNow(log);
  assert.equal(Deno.statSync(path).size, size, "the write did not grow the file");
  const data = Deno.readFileSync(path);
  const offset = framedBytes(["start", "a"]);
  assert.deepEqual(data.subarray(offset, offset + 9), frameRecord(bytes("b")));
  await log.close();
});

Deno.test("SegmentedLog with preallocateBytes 0 grows the file by each write, as without preallocation", async () => {
  await using dir = await tempDir();
  const path = await writeLog(dir.path, ["a", "b"], { preallocateBytes: 0 });
  assert.equal(Deno.statSync(path).size, framedBytes(["start", "a", "b"]));
});

Deno.test("SegmentedLog preallocates no further than preallocateLimitBytes", async () => {
  await using dir = await tempDir();
  const path = await writeLog(dir.path, ["a"], {
    preallocateBytes: PREALLOCATE,
    preallocateLimitBytes: 1000,
  });
  assert.equal(Deno.statSync(path).size, 1000);
  assert.deepEqual(readBack(dir.path), { records: ["start", "a"], cut: undefined });
});

Deno.test("SegmentedLog reads the preallocated tail of a finished segment as its end", async () => {
  await using dir = await tempDir();
  const { log } = SegmentedLog.open(dir.path, { preallocateBytes: PREALLOCATE });
  log.roll(frameRecord(bytes("one")));
  log.append(bytes("a"), true);
  await syncNow(log);
  await log.preallocated();
  log.roll(frameRecord(bytes("two")));
  log.append(bytes("b"), true);
  await syncNow(log);
  await log.close();
  assert.equal(
    Deno.statSync(`${dir.path}/${segmentFileName(1)}`).size,
    framedBytes(["one", "a"]) + PREALLOCATE,
  );
  assert.deepEqual(readBack(dir.path), { records: ["one", "a", "two", "b"], cut: undefined });
});

Deno.test("SegmentedLog.open() cuts a torn record in the preallocated zeros, and refuses a bad one with intact records after it", async () => {
  await using dir = await tempDir();
  const path = await writeLog(dir.path, ["a", "b", "c"], { preallocateBytes: PREALLOCATE });
  const original = Deno.readFileSync(path);
  const end = framedBytes(["start", "a", "b", "c"]);
  assert.equal(original.length, end + PREALLOCATE);
  // A record torn in the zeros: its header and part of its payload landed.
  const torn = original.slice();
  torn.set(frameRecord(bytes("a record the crash tore")).subarray(0, RECORD_HEADER_BYTES + 5), end);
  Deno.writeFileSync(path, torn);
  const opened = SegmentedLog.open(dir.path);
  assert.deepEqual(opened.records.map((r) => text(r.payload)), ["start", "a", "b", "c"]);
  assert.equal(opened.cut?.offset, end);
  assert.equal(opened.cut?.bytes, PREALLOCATE);
  assert.match(opened.cut!.reason, /CRC mismatch/);
  assert.equal(Deno.statSync(path).size, end, "cut at the last valid record");
  await opened.log.close();
  // A flipped byte in "b", with "c" intact after it: refused.
  const middle = original.slice();
  middle[framedBytes(["start", "a"]) + RECORD_HEADER_BYTES]! ^= 0xff;
  Deno.writeFileSync(path, middle);
  assert.throws(
    () => SegmentedLog.open(dir.path),
    (error) =>
      error instanceof CorruptLogError &&
      /CRC mismatch with intact data after it/.test(error.message),
  );
  assert.equal(Deno.statSync(path).size, original.length, "nothing was cut");
});

Deno.test("SegmentedLog.open() removes a last segment of zeros alone (its first record did not land)", async () => {
  await using dir = await tempDir();
  await writeLog(dir.path, ["a"]);
  const empty = `${dir.path}/${segmentFileName(2)}`;
  Deno.writeFileSync(empty, new Uint8Array(4096));
  const opened = SegmentedLog.open(dir.path);
  assert.deepEqual(opened.records.map((r) => text(r.payload)), ["start", "a"]);
  assert.match(opened.cut!.reason, /zeros/);
  assert.deepEqual(opened.log.segments, [1]);
  assert.throws(() => Deno.statSync(empty), Deno.errors.NotFound);
  await opened.log.close();
});

Deno.test("SegmentedLog.append() refuses an empty payload, which would read back as the zeros that end a segment", async () => {
  await using dir = await tempDir();
  const { log } = SegmentedLog.open(dir.path);
  assert.throws(() => log.roll(frameRecord(new Uint8Array(0))), /expected at least 1/);
  log.roll(frameRecord(bytes("start")));
  assert.throws(
    () => log.append(new Uint8Array(0), true),
    /Invalid raft log record of 0 payload bytes/,
  );
  assert.throws(
    () => log.appendFramed(new Uint8Array(RECORD_HEADER_BYTES), true),
    /expected at least 1/,
  );
  await log.close();
  assert.deepEqual(readBack(dir.path).records, ["start"]);
});
