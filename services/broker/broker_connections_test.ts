/**
 * Connection limits over real TCP (issue 13): an idle connection is closed after
 * `connectionsMaxIdleMs` while a busy one is not; beyond `maxConnections` a new connection
 * is closed at once and counted, and one is accepted again once another closes; a frame
 * announced at the maximum size holds only what arrived of it; a connection that stalls
 * inside a frame is closed after `requestReadTimeoutMs`; handler rejections nobody awaits
 * any more close their connection, not the process; a failing accept (EMFILE, in a broker
 * child under `ulimit -n 64`) is retried with back-off; the variables are validated by name.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePorts, settlesWithin, SpawnedProcess, tempDir, waitFor } from "@trading/testing";
import { MAIN_MODULE_URL } from "@trading/supervisor/self-command";
import { withBroker } from "@trading/testing/with-broker";
import { loadBrokerConfig } from "./config.ts";
import * as M from "./protocol/messages.ts";
import { buildRecordBatch } from "./protocol/record_batch.ts";
import { RawKafkaClient } from "@trading/testing/raw-kafka-client";

/** A raw TCP client that announces a frame of `size` bytes and sends `sent` of them. */
async function sendPartialFrame(
  address: string,
  size: number,
  sent: number,
): Promise<Deno.TcpConn> {
  const [hostname, port] = address.split(":") as [string, string];
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const bytes = new Uint8Array(4 + sent);
  new DataView(bytes.buffer).setInt32(0, size);
  await conn.write(bytes);
  return conn;
}

/** Resolves true once the peer closes `conn` (end of stream or reset). */
async function closedByPeer(conn: Deno.TcpConn): Promise<boolean> {
  const buf = new Uint8Array(1024);
  try {
    for (;;) if ((await conn.read(buf)) === null) return true;
  } catch {
    return true;
  }
}

async function gauge(
  broker: { metrics: { frameBufferBytes: { get(): Promise<{ values: { value: number }[] }> } } },
) {
  return (await broker.metrics.frameBufferBytes.get()).values[0]?.value ?? 0;
}

async function metadataWorks(client: RawKafkaClient): Promise<boolean> {
  const metadata = await client.request(M.metadata, 1, { topics: null });
  return metadata.brokers.length === 1;
}

Deno.test("an idle connection is closed after connectionsMaxIdleMs; one that keeps sending stays open", async () => {
  await withBroker({ connectionsMaxIdleMs: 300 }, async (broker) => {
    const idle = await RawKafkaClient.connect(broker.address, "idle");
    const busy = await RawKafkaClient.connect(broker.address, "busy");
    try {
      assert.ok(await metadataWorks(idle));
      const closed = idle.readFrame(); // Resolves null when the broker closes the socket.
      let idleClosed = false;
      closed.then(() => (idleClosed = true));
      // The busy client sends a request every 50 ms until the idle one is closed.
      await waitFor("the idle connection to be closed", async () => {
        assert.ok(await metadataWorks(busy));
        return idleClosed;
      }, { timeoutMs: 20_000 });
      assert.equal(await closed, null);
      assert.ok(await metadataWorks(busy), "the busy connection is still served");
      assert.equal(
        (await broker.metrics.refusedConnections.get()).values.find((v) =>
          v.labels.reason === "idle"
        )?.value,
        1,
      );
    } finally {
      idle.close();
      busy.close();
    }
  });
});

Deno.test("beyond maxConnections a new connection is closed at once; a slot is reused after a close", async () => {
  await withBroker({ maxConnections: 2 }, async (broker) => {
    const a = await RawKafkaClient.connect(broker.address, "a");
    const b = await RawKafkaClient.connect(broker.address, "b");
    const extra = await RawKafkaClient.connect(broker.address, "extra");
    let again: RawKafkaClient | undefined;
    try {
      assert.ok(await metadataWorks(a));
      assert.ok(await metadataWorks(b));
      assert.equal(
        await settlesWithin("the broker to close the third connection", extra.readFrame(), 10_000),
        null,
      );
      const refused = (await broker.metrics.refusedConnections.get()).values.find((v) =>
        v.labels.reason === "too_many"
      );
      assert.equal(refused?.value, 1);
      a.close();
      again = await waitFor("a connection to be accepted after one closed", async () => {
        const client = await RawKafkaClient.connect(broker.address, "again");
        try {
          if (await metadataWorks(client)) return client;
        } catch {
          // Closed: the broker has not seen the close of `a` yet.
        }
        client.close();
        return undefined;
      });
      assert.ok(await metadataWorks(b));
    } finally {
      a.close();
      b.close();
      extra.close();
      again?.close();
    }
  });
});

Deno.test("BROKER_CONNECTIONS_MAX_IDLE_MS and BROKER_MAX_CONNECTIONS have Kafka-like defaults and are validated by name", () => {
  const config = loadBrokerConfig({});
  assert.equal(config.broker.connectionsMaxIdleMs, 600_000);
  assert.equal(config.broker.maxConnections, 1000);
  assert.equal(
    loadBrokerConfig({ BROKER_CONNECTIONS_MAX_IDLE_MS: "5000", BROKER_MAX_CONNECTIONS: "7" })
      .broker.maxConnections,
    7,
  );
  assert.throws(() => loadBrokerConfig({ BROKER_MAX_CONNECTIONS: "0" }), /BROKER_MAX_CONNECTIONS/);
  assert.throws(
    () => loadBrokerConfig({ BROKER_CONNECTIONS_MAX_IDLE_MS: "soon" }),
    /BROKER_CONNECTIONS_MAX_IDLE_MS/,
  );
});

Deno.test("a frame announced at 100 MiB with 10 bytes sent holds 64 KiB per connection, not 100 MiB", async () => {
  await withBroker({ maxFrameBytes: 100 * 1024 * 1024 }, async (broker) => {
    const before = Deno.memoryUsage().external;
    const conns: Deno.TcpConn[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        conns.push(await sendPartialFrame(broker.address, 100 * 1024 * 1024, 10));
      }
      // Every connection has read its size prefix and started its frame's buffer.
      await waitFor("three frames to be started", async () => (await gauge(broker)) === 3 * 65536);
      const grown = Deno.memoryUsage().external - before;
      assert.ok(grown < 64 * 1024 * 1024, `external memory grew ${grown} bytes for 30 bytes sent`);
      // The frames grow as bytes arrive: 200 KiB more on one of them holds at most twice that.
      await conns[0]!.write(new Uint8Array(200 * 1024));
      await waitFor(
        "the first frame to grow",
        async () => (await gauge(broker)) === 2 * 65536 + 256 * 1024,
      );
    } finally {
      for (const conn of conns) conn.close();
    }
    await waitFor("the buffers to be released", async () => (await gauge(broker)) === 0);
  });
});

Deno.test("a connection that stalls inside a frame is closed after requestReadTimeoutMs; others are served", async () => {
  await withBroker({ requestReadTimeoutMs: 300 }, async (broker) => {
    const quiet = await RawKafkaClient.connect(broker.address, "quiet");
    const busy = await RawKafkaClient.connect(broker.address, "busy");
    const stalledInSize = await sendPartialFrame(broker.address, 100, 0);
    try {
      assert.ok(await metadataWorks(quiet));
      // Two bytes of a size prefix, and 10 of a 100-byte frame: both stall.
      await stalledInSize.write(new Uint8Array(2));
      const stalled = await sendPartialFrame(broker.address, 100, 10);
      let closed = 0;
      closedByPeer(stalled).then(() => closed++);
      closedByPeer(stalledInSize).then(() => closed++);
      await waitFor("both stalled connections to be closed", async () => {
        assert.ok(await metadataWorks(busy));
        return closed === 2;
      }, { timeoutMs: 20_000 });
      stalled.close();
      const timeouts = (await broker.metrics.refusedConnections.get()).values.find((v) =>
        v.labels.reason === "read_timeout"
      );
      assert.equal(timeouts?.value, 2);
      // The quiet client sent nothing for longer than the read timeout, between frames.
      assert.ok(await metadataWorks(quiet), "a connection idle between frames stays open");
      assert.ok(await metadataWorks(busy));
    } finally {
      quiet.close();
      busy.close();
      stalledInSize.close();
    }
  });
});

Deno.test("BROKER_REQUEST_READ_TIMEOUT_MS defaults to 30000 and is validated by name", () => {
  assert.equal(loadBrokerConfig({}).broker.requestReadTimeoutMs, 30_000);
  assert.equal(
    loadBrokerConfig({ BROKER_REQUEST_READ_TIMEOUT_MS: "500" }).broker.requestReadTimeoutMs,
    500,
  );
  assert.throws(
    () => loadBrokerConfig({ BROKER_REQUEST_READ_TIMEOUT_MS: "-1" }),
    /BROKER_REQUEST_READ_TIMEOUT_MS/,
  );
});

Deno.test("requests whose handlers reject after the connection gave up on them close it, not the broker", async () => {
  await withBroker({ createTopics: [{ name: "t", partitions: 1 }] }, async (broker) => {
    const client = await RawKafkaClient.connect(broker.address, "producer");
    const other = await RawKafkaClient.connect(broker.address, "other");
    const victim = await RawKafkaClient.connect(broker.address, "victim");
    try {
      const produced = await client.produce(
        "t",
        0,
        buildRecordBatch([{ value: new TextEncoder().encode("v") }]),
      );
      assert.equal(produced.errorCode, 0);
      // A storage fault: the segment file is gone before anything read it, so each Fetch's
      // read rejects. Of two pipelined Fetches, the writer awaits the first, gives up on the
      // connection, and never awaits the second: its rejection must not end the process.
      await Deno.remove(join(broker.dataDir, "t-0", "00000000000000000000.log"));
      const fetch = () =>
        victim.encodeRequest(M.fetch, 11, {
          replicaId: -1,
          maxWaitMs: 0,
          minBytes: 0,
          maxBytes: 1 << 20,
          isolationLevel: 0,
          sessionId: 0,
          sessionEpoch: -1,
          topics: [{
            topic: "t",
            partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }],
          }],
          forgottenTopicsData: [],
          rackId: "",
        });
      const first = fetch();
      const second = fetch();
      const both = new Uint8Array(first.length + second.length);
      both.set(first);
      both.set(second, first.length);
      await victim.send(both);
      assert.equal(
        await settlesWithin("the broker to close the connection", victim.readFrame()),
        null,
      );
      // Both rejections have run by now (the second one's read failed after the first's).
      await waitFor(
        "the refusal to be counted",
        async () =>
          (await broker.metrics.closedBadFrames.get()).values.some((v) =>
            v.labels.reason === "malformed" && v.value >= 1
          ),
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.ok(await metadataWorks(other), "the broker still serves other connections");
    } finally {
      client.close();
      other.close();
      victim.close();
    }
  });
});

Deno.test("a failing accept (out of file descriptors) is retried after 10 ms doubling to 1 s, and serving resumes", async () => {
  await using dir = await tempDir();
  const [kafkaPort, httpPort] = freePorts(2) as [number, number];
  // 64 file descriptors: the broker needs about 30 to run, so a few dozen connections make
  // accept fail with EMFILE (which repeats at once: a loop without a pause would spin).
  const broker = SpawnedProcess.spawn("sh", [
    "-c",
    'ulimit -n 64 && exec "$0" run -A --frozen "$1" broker',
    Deno.execPath(),
    fileURLToPath(MAIN_MODULE_URL),
  ], {
    env: {
      BROKER_PORT: String(kafkaPort),
      BROKER_DATA_DIR: dir.path,
      PORT_HTTP: String(httpPort),
      LOG_LEVEL: "info",
      TRADING_SUPERVISED: "",
    },
  });
  const flood: Deno.TcpConn[] = [];
  const address = `127.0.0.1:${kafkaPort}`;
  try {
    await waitFor(
      "the broker to listen",
      () => broker.output.some((l) => l.includes("Broker listening")),
      { timeoutMs: 30_000 },
    );
    const early = await RawKafkaClient.connect(address, "early");
    assert.ok(await metadataWorks(early));
    const retries = () =>
      broker.output.flatMap((line) => {
        const match = /Accept failed: .*retrying in (\d+) ms/.exec(line);
        return match ? [Number(match[1])] : [];
      });
    for (let i = 0; i < 80 && retries().length === 0; i++) {
      flood.push(await Deno.connect({ hostname: "127.0.0.1", port: kafkaPort }));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await waitFor("five accept retries", () => retries().length >= 5, { timeoutMs: 30_000 });
    const waits = retries();
    assert.deepEqual(waits.slice(0, 5), [10, 20, 40, 80, 160], broker.output.slice(-5).join("\n"));
    assert.ok(waits.every((ms) => ms <= 1000));
    assert.ok(await metadataWorks(early), "a connection accepted before keeps being served");
    for (const conn of flood.splice(0)) conn.close();
    const late = await waitFor("a new connection to be served", async () => {
      const client = await RawKafkaClient.connect(address, "late");
      try {
        if (await metadataWorks(client)) return client;
      } catch {
        // Not accepted yet.
      }
      client.close();
      return undefined;
    }, { timeoutMs: 30_000 });
    late.close();
    early.close();
  } finally {
    for (const conn of flood) conn.close();
    broker.kill("SIGKILL");
    await broker.exited();
  }
});
