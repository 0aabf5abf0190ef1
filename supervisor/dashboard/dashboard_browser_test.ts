/**
 * The whole pipeline under `main.ts up` (offset ports, temp data dir), checked from outside
 * like a person running it would: every process's `/metrics` carries the issue's metrics
 * with non-zero values, and the dashboard, in Debian's headless Chromium driven by
 * playwright-core, shows every child healthy and the current leader; killing the leader from
 * its button shows it restarting and a new leader. One pipeline serves both, to keep the
 * suite short. Screenshot: test-artifacts/dashboard.png.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { logLevel } from "kafkajs";
import { ApplyRequest, OrderStatus } from "@trading/proto";
import { RaftClient } from "@trading/shared/raft-client";
import { generateClusterSecret } from "@trading/shared/cluster-secret";
import { createKafka, ensureTopics } from "@trading/shared/kafka";
import { CHROMIUM, requireTestTool, SpawnedProcess, tempDir, waitFor } from "@trading/testing";
import { ROLES } from "../../main.ts";
import { defaultCommands } from "../control/commands.ts";
import { serveControl } from "../control/control_server.ts";
import { DashboardServer } from "./dashboard_server.ts";
import { LogMultiplexer } from "../supervision/log_multiplexer.ts";
import { freePortOffset } from "../free_port_offset.ts";
import { type MetricSample, parsePrometheusText } from "./dashboard_prometheus.ts";
import { type ChildStatus, Supervisor } from "../supervision/supervisor.ts";
import { probedFixtureSpec } from "../testdata/fixtures.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));
/** As the brief for CI says: no sandbox (root), nothing that reaches out to the network. */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

interface StatusBody {
  ready: boolean;
  children: ChildStatus[];
}

/** `main.ts up` as a child process, its output kept for failure messages. */
/** The secret of the pipeline this file starts, which its own RaftClients send. */
const CLUSTER_SECRET = generateClusterSecret();

function startPipeline(dataDir: string) {
  const offset = freePortOffset([8090]);
  const httpPort = 8090 + offset;
  const process = SpawnedProcess.spawn(Deno.execPath(), ["run", "-A", "--frozen", MAIN, "up"], {
    cwd: ROOT,
    env: {
      SUPERVISOR_HTTP_PORT: String(httpPort),
      SUPERVISOR_PORT_OFFSET: String(offset),
      SUPERVISOR_DATA_DIR: dataDir,
      KAFKA_BROKERS: "",
      CLUSTER_SECRET,
      LOG_LEVEL: "info",
      // Inherited by the children: enough ticks for the strategies to decide orders soon.
      INGESTOR_RATE: "50",
    },
  });
  const url = `http://127.0.0.1:${httpPort}`;
  return {
    url,
    offset,
    /** The last `chars` characters of its output (stdout and stderr). */
    output: (chars = 5000) => process.text(chars),
    async status(): Promise<StatusBody> {
      return await (await fetch(`${url}/status`)).json();
    },
    async control(command: string): Promise<{ status: number; output: string }> {
      const response = await fetch(`${url}/control`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ command }),
      });
      return { status: response.status, output: (await response.json()).output };
    },
    /** SIGINT, as Ctrl-C; resolves with the exit status once every output line is read. */
    async interrupt(): Promise<Deno.CommandStatus> {
      process.kill("SIGINT");
      const timer = setTimeout(() => process.kill("SIGKILL"), 15_000);
      const exit = await process.exited();
      clearTimeout(timer);
      return exit;
    },
    async [Symbol.asyncDispose]() {
      const exit = await this.interrupt();
      if (exit.code !== 0) console.error(`up exited ${exit.code}\n${process.text(3000)}`);
    },
  };
}

async function scrape(port: number): Promise<MetricSample[]> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  return parsePrometheusText(await response.text());
}

/** A metric the issue asks for, how to find it, and whether it must be non-zero. */
interface Expectation {
  what: string;
  name: RegExp;
  labels?: Record<string, string>;
  /** Label names every matching sample must carry (`status`, `reason`). */
  labelNames?: string[];
  /** "nonzero": the sum of the matching samples is > 0; "present": at least one sample. */
  rule: "nonzero" | "present";
}

const exact = (name: string, rule: Expectation["rule"] = "nonzero"): Expectation => ({
  what: name,
  name: new RegExp(`^${name}$`),
  rule,
});

/**
 * The issue's list, per process. Gauges whose healthy value is 0 (lag, outbox depth, a
 * follower's role) need only be present; counters and histograms must have counted.
 */
function expectationsFor(child: string, chaosRegistered: boolean): Expectation[] {
  if (child === "supervisor") {
    return [
      exact("supervisor_child_restarts_total"),
      exact("supervisor_child_up"),
      {
        what: "kill events",
        name: /^supervisor_events_total$/,
        labels: { kind: "killed" },
        rule: "nonzero",
      },
      ...(chaosRegistered
        ? [{
          what: "chaos fault events",
          name: /^supervisor_events_total$/,
          labels: { kind: "fault-start" },
          rule: "nonzero" as const,
        }]
        : []),
    ];
  }
  if (child === "broker") {
    return [
      exact("broker_bytes_in_total"),
      exact("broker_bytes_out_total"),
      exact("broker_messages_in_total"),
      { ...exact("broker_requests_total"), labelNames: ["api", "error_code"] },
      exact("broker_partition_high_watermark"),
      exact("broker_group_lag", "present"),
    ];
  }
  if (/^raft-\d+$/.test(child)) {
    return [
      exact("raft_role", "present"),
      exact("raft_term"),
      exact("raft_commit_index"),
      exact("raft_applied_index"),
      exact("raft_leader_changes_total"),
      // raft_apply_duration_seconds: only the leader serves Apply, so it is checked below
      // over the cluster (a follower has no series).
    ];
  }
  const dlq: Expectation = {
    what: "DLQ count",
    name: /^dead_letters_total$|dlq.*_total$/,
    rule: "nonzero",
  };
  const lag: Expectation = {
    what: "consumer lag per partition",
    name: /lag/,
    labelNames: ["partition"],
    rule: "present",
  };
  switch (child) {
    case "market-ingestor":
      return [{ what: "ticks out", name: /ticks.*_total$/, rule: "nonzero" }];
    case "stream-processor":
      return [
        { what: "ticks in", name: /ticks.*_total$/, rule: "nonzero" },
        { what: "orders out", name: /(orders|commands).*_total$/, rule: "nonzero" },
        lag,
        dlq,
      ];
    case "order-executor":
      return [
        {
          what: "orders by status and reason",
          name: /orders.*_total$/,
          labelNames: ["status", "reason"],
          rule: "nonzero",
        },
        {
          what: "end-to-end latency histogram",
          name: /^order_latency_seconds_count$|(end_to_end|e2e).*_count$/,
          rule: "nonzero",
        },
        lag,
        { what: "outbox depth", name: /outbox/, rule: "present" },
        dlq,
      ];
    default:
      return [];
  }
}

function matching(samples: readonly MetricSample[], e: Expectation): MetricSample[] {
  return samples.filter((s) =>
    e.name.test(s.name) &&
    Object.entries(e.labels ?? {}).every(([k, v]) => s.labels[k] === v) &&
    (e.labelNames ?? []).every((k) => k in s.labels)
  );
}

function check(samples: readonly MetricSample[], e: Expectation): string | undefined {
  const found = matching(samples, e);
  const labels = e.labelNames ? ` with labels ${e.labelNames.join(", ")}` : "";
  if (found.length === 0) return `${e.what}: no sample matches ${e.name}${labels}`;
  const sum = found.reduce((total, s) => total + s.value, 0);
  if (e.rule === "nonzero" && !(sum > 0)) return `${e.what}: ${found[0]!.name} sums to ${sum}`;
  return undefined;
}

/** A sample as the exposition format writes it, without the `service` label. */
function sampleLine(s: MetricSample): string {
  const labels = Object.entries(s.labels).filter(([k]) => k !== "service");
  const text = labels.map(([k, v]) => `${k}="${v}"`).join(",");
  return `${s.name}${text ? `{${text}}` : ""} ${s.value}`;
}

/**
 * Drives the broker and the Raft cluster the way the pipeline services do, for the roles
 * that are not registered yet; and sends one undecodable message to each input topic whose
 * consumer runs, so that the dead-letter counters have something to count.
 */
async function driveTraffic(brokers: string, raftAddresses: string[]): Promise<void> {
  const kafka = createKafka({
    clientId: "metrics-probe",
    brokers: [brokers],
    overrides: { logLevel: logLevel.NOTHING },
  });
  const garbage = [
    ...("stream-processor" in ROLES ? ["market.ticks"] : []),
    ...("order-executor" in ROLES ? ["orders.commands"] : []),
  ];
  if (garbage.length > 0) {
    const producer = kafka.producer();
    await producer.connect();
    for (const topic of garbage) {
      await producer.send({ topic, messages: [{ key: "garbage", value: "\xff not protobuf" }] });
    }
    await producer.disconnect();
    console.log(`  (one undecodable message sent to ${garbage.join(" and ")})`);
  }
  if (!("market-ingestor" in ROLES && "stream-processor" in ROLES)) {
    await ensureTopics(kafka, { topics: ["metrics.probe"] });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: "metrics.probe",
      messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `probe ${i}` })),
    });
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: "metrics-probe", maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic: "metrics.probe", fromBeginning: true });
    let consumed = 0;
    await consumer.run({ eachMessage: () => Promise.resolve(void consumed++) });
    await waitFor("probe messages consumed", () => consumed >= 20, { timeoutMs: 20_000 });
    await consumer.disconnect();
    console.log("  (pipeline services not registered: 20 probe messages through the broker)");
  }
  if (!("order-executor" in ROLES)) {
    const raft = new RaftClient({ addresses: raftAddresses, clusterSecret: CLUSTER_SECRET });
    try {
      for (let i = 0; i < 5; i++) {
        await raft.apply(ApplyRequest.fromPartial({
          orderId: `metrics-probe-${i}`,
          payload: new TextEncoder().encode(`probe ${i}`),
          outcome: { status: OrderStatus.ORDER_STATUS_ACCEPTED, reason: "" },
        }));
      }
    } finally {
      raft.close();
    }
    console.log("  (order-executor not registered: 5 probe Applies through RaftClient)");
  }
}

/** Fails, naming the install command, when Debian's Chromium is missing. */
Deno.test("the running pipeline: every process's metrics, and the dashboard in Chromium", async (t) => {
  await requireTestTool("chromium");
  await using dataDir = await tempDir();
  await using pipeline = startPipeline(dataDir.path);
  const startedAt = Date.now();
  const healthy = () =>
    waitFor("every child running and healthy", async () => {
      const body = await pipeline.status();
      return body.ready && body.children.every((c) => c.state === "running" && c.health?.ok)
        ? body
        : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 }).catch((error) => {
      throw new Error(`${error.message}\n--- up output ---\n${pipeline.output()}`);
    });
  const status = await healthy();
  console.log(`${status.children.length} children healthy in ${Date.now() - startedAt} ms`);
  const port = (name: string, kind: string) =>
    status.children.find((c) => c.name === name)?.ports[kind];
  const raftNames = status.children.map((c) => c.name).filter((n) => n.startsWith("raft-"));
  const raftAddresses = raftNames.map((n) => `127.0.0.1:${port(n, "grpc")}`);
  /** Children this test killed: any other exit of the broker or a raft node is a crash. */
  const killed = new Set<string>();

  await t.step("every process serves the issue's metrics, non-zero while it runs", async () => {
    await driveTraffic(`127.0.0.1:${port("broker", "kafka")}`, raftAddresses);
    // A restart, and (once the chaos words exist) a fault, for the supervisor's counters.
    const raft = new RaftClient({ addresses: raftAddresses, clusterSecret: CLUSTER_SECRET });
    const leader = await raft.leader().finally(() => raft.close());
    const follower = raftNames.find((n) => n !== leader.leaderId)!;
    const followerPid = status.children.find((c) => c.name === follower)!.pid;
    killed.add(follower);
    assert.equal((await pipeline.control(`kill ${follower}`)).status, 200);
    await waitFor(`${follower} restarted`, async () => {
      const child = (await pipeline.status()).children.find((c) => c.name === follower)!;
      return child.restarts === 1 && child.pid !== followerPid && child.state === "running";
    }, { timeoutMs: 30_000, intervalMs: 100 });
    const chaos = await pipeline.control("chaos raft-1 drop-pct=1");
    const chaosRegistered = chaos.status !== 400 || !/Unknown command/.test(chaos.output);
    if (chaosRegistered) await pipeline.control("chaos raft-1 off");
    else console.log("  (chaos command not registered yet: fault-start events skipped)");
    for (const role of ["market-ingestor", "stream-processor", "order-executor"]) {
      if (!(role in ROLES)) {
        console.log(`  (${role} not registered in main.ts ROLES yet: its metrics skipped)`);
      }
    }
    await healthy();

    const children = ["supervisor", ...(await pipeline.status()).children.map((c) => c.name)];
    const httpPort = (child: string) =>
      child === "supervisor" ? 8090 + pipeline.offset : port(child, "http")!;
    let failures: string[] = [];
    let scrapes = new Map<string, MetricSample[]>();
    // Orders need the strategies to warm up: poll until every counter has counted.
    const trafficAt = Date.now();
    while (true) {
      // A scrape can fail while a child restarts: that is a failure of this round only.
      const unreachable: string[] = [];
      scrapes = new Map(
        await Promise.all(children.map(async (c) => {
          const samples = await scrape(httpPort(c)).catch((error) => {
            unreachable.push(`${c}: /metrics unreachable (${error.message})`);
            return [];
          });
          return [c, samples] as const;
        })),
      );
      failures = unreachable;
      failures.push(
        ...children.flatMap((child) =>
          expectationsFor(child, chaosRegistered).flatMap((e) => {
            const problem = check(scrapes.get(child)!, e);
            return problem ? [`${child} ${problem}`] : [];
          })
        ),
      );
      const raftSamples = raftNames.flatMap((n) => scrapes.get(n)!);
      const leaders = raftSamples.filter((s) => s.name === "raft_role" && s.value === 3).length;
      if (leaders !== 1) failures.push(`raft: ${leaders} nodes report raft_role 3, expected 1`);
      const applies = raftSamples.filter((s) => s.name === "raft_apply_duration_seconds_count")
        .reduce((sum, s) => sum + s.value, 0);
      if (!(applies > 0)) failures.push("raft: raft_apply_duration_seconds_count is 0 everywhere");
      if (failures.length === 0 || Date.now() - trafficAt > 45_000) break;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    console.log(`metrics ${Date.now() - trafficAt} ms after the traffic began:`);
    for (const child of children) {
      const lines = expectationsFor(child, chaosRegistered).flatMap((e) =>
        matching(scrapes.get(child)!, e).slice(0, 4).map(sampleLine)
      );
      console.log(`  ${child} (:${httpPort(child)}):\n    ${[...new Set(lines)].join("\n    ")}`);
    }
    assert.deepEqual(failures, [], `missing or zero metrics:\n${failures.join("\n")}`);
  });

  await t.step(
    "the dashboard shows every child healthy and the leader; kill on the leader shows its restart and a new leader",
    async () => {
      await using profile = await tempDir("trading-chromium-");
      const context = await chromium.launchPersistentContext(profile.path, {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: { width: 1280, height: 900 },
      });
      try {
        const page = await context.newPage();
        const pageErrors: string[] = [];
        page.on("pageerror", (error) => pageErrors.push(error.message));
        page.on("dialog", (dialog) => void dialog.accept()); // the kill button asks first
        await page.goto(pipeline.url);
        await page.locator("#connection", { hasText: "live" }).waitFor({ timeout: 10_000 });

        const names = (await pipeline.status()).children.map((c) => c.name);
        const rows = page.locator("#children tbody tr");
        await waitFor("every child row running and healthy", async () => {
          const states = await rows.evaluateAll((trs) =>
            trs.map((tr) => [
              tr.querySelector("td.state")?.textContent,
              tr.querySelector("td.health")?.textContent,
            ])
          );
          return states.length === names.length &&
            states.every(([state, health]) => state === "running" && health === "healthy");
        }, { timeoutMs: 15_000, intervalMs: 200 });

        const raft = new RaftClient({ addresses: raftAddresses, clusterSecret: CLUSTER_SECRET });
        try {
          const leader = await waitFor("dashboard and cluster agree on the leader", async () => {
            const { leaderId } = await raft.leader();
            const shown = await page.locator("#leader").textContent();
            return leaderId !== "" && shown === leaderId ? leaderId : undefined;
          }, { timeoutMs: 10_000, intervalMs: 200 });
          const leaderRow = page.locator(`#children tr[data-child="${leader}"]`);
          const pidBefore = await leaderRow.locator("td.pid").textContent();
          const restartsBefore = Number(await leaderRow.locator("td.restarts").textContent());
          console.log(
            `dashboard shows ${names.length} children healthy, leader ${leader} (pid ${pidBefore})`,
          );

          const killedAt = Date.now();
          killed.add(leader);
          await leaderRow.locator('button[data-action="kill"]').click();
          await page.locator(`#timeline li[data-kind="restarting"][data-child="${leader}"]`)
            .waitFor({ timeout: 10_000 });
          const newLeader = await waitFor("a new leader on the dashboard", async () => {
            const shown = await page.locator("#leader").textContent();
            return shown && shown !== leader && /^raft-\d+$/.test(shown) ? shown : undefined;
          }, { timeoutMs: 20_000, intervalMs: 100 });
          console.log(
            `dashboard shows new leader ${newLeader} ${Date.now() - killedAt} ms after the click`,
          );
          await waitFor("the killed node back, running and healthy, with a new pid", async () => {
            const [state, health, pid, restarts] = await Promise.all(
              ["state", "health", "pid", "restarts"].map((c) =>
                leaderRow.locator(`td.${c}`).textContent()
              ),
            );
            return state === "running" && health === "healthy" && pid !== pidBefore &&
              Number(restarts) === restartsBefore + 1;
          }, { timeoutMs: 30_000, intervalMs: 200 });
          assert.match(
            await page.locator("#control-output").textContent() ?? "",
            new RegExp(`killed ${leader}`),
          );
          // Let the charts gather a few more points for the picture.
          await page.waitForTimeout(2000);
          await Deno.mkdir(ARTIFACTS, { recursive: true });
          await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });
          console.log(`screenshot: test-artifacts/dashboard.png`);
        } finally {
          raft.close();
        }
        assert.deepEqual(pageErrors, [], "no script error on the page");
      } finally {
        await context.close();
      }
    },
  );

  await t.step(
    "Ctrl-C stops the pipeline, dashboard and Raft poller included, with exit 0",
    async () => {
      const exit = await pipeline.interrupt();
      assert.equal(exit.code, 0, pipeline.output());
      assert.doesNotMatch(pipeline.output(), /nghttp2|Assertion .* failed/);
    },
  );

  await t.step("no broker or raft node exited but those the test killed", () => {
    // The supervisor's own log lines (JSON when piped) name every exit.
    const exits = pipeline.output(Infinity).split("\n").flatMap((line) => {
      try {
        const record = JSON.parse(line);
        return record.service === "supervisor" && record.fields?.event === "exited"
          ? [record.fields]
          : [];
      } catch {
        return [];
      }
    }) as Array<{ child: string; signal: string | null; code: number }>;
    const during = exits.filter((e) => e.signal !== null || e.code !== 0);
    // The services' own restarts are theirs to explain; shown, not judged here.
    for (const e of during.filter((e) => !/^(broker|raft-\d+)$/.test(e.child))) {
      console.log(`  note: ${e.child} exited with ${e.signal ?? `code ${e.code}`}`);
    }
    const crashes = during.filter((e) =>
      /^(broker|raft-\d+)$/.test(e.child) && !killed.has(e.child)
    );
    assert.deepEqual(crashes, []);
    const sigkilled = during.filter((e) => killed.has(e.child)).map((e) => e.signal);
    assert.deepEqual(sigkilled, sigkilled.map(() => "SIGKILL"), "only the test's own kills");
  });
});

Deno.test("with a token, the dashboard asks for it, keeps it in sessionStorage and never puts it in a URL", async () => {
  await requireTestTool("chromium");
  const token = "dashboard-test-token-9f3c";
  const output = new LogMultiplexer({ pretty: false, write: () => {} });
  const supervisor = new Supervisor({ specs: [probedFixtureSpec("svc")], output });
  const dashboard = new DashboardServer(supervisor, { tokenRequired: true });
  const server = await serveControl(supervisor, {
    hostname: "127.0.0.1",
    port: 0,
    token,
    commands: defaultCommands(),
    routes: dashboard.routes,
    publicRoutes: dashboard.publicRoutes,
  });
  await using profile = await tempDir("trading-chromium-");
  const context = await chromium.launchPersistentContext(profile.path, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  try {
    supervisor.start();
    const page = await context.newPage();
    const urls: string[] = [];
    page.on("request", (request) => urls.push(request.url()));
    await page.goto(`http://127.0.0.1:${server.port}/`);
    await page.locator("#token-form").waitFor({ state: "visible", timeout: 10_000 });
    assert.equal(await page.locator("#children tbody tr").count(), 0, "no data before the token");

    await page.fill("#token-input", "not-the-right-token");
    await page.click("#token-form button");
    await page.locator("#token-error", { hasText: "That token was refused." }).waitFor({
      timeout: 10_000,
    });
    await page.fill("#token-input", token);
    await page.click("#token-form button");
    await page.locator("#connection", { hasText: "live" }).waitFor({ timeout: 10_000 });
    await page.locator('#children tr[data-child="svc"] td.state', { hasText: "running" })
      .waitFor({ timeout: 15_000 });
    assert.equal(await page.evaluate(() => sessionStorage.length), 1);
    assert.equal(
      await page.evaluate(() =>
        Object.values(sessionStorage).includes("dashboard-test-token-9f3c")
      ),
      true,
    );
    assert.ok(urls.some((url) => url.includes("/dashboard/stream?ticket=")));
    assert.deepEqual(urls.filter((url) => url.includes(token)), [], "the token is in no URL");
    assert.doesNotMatch(await page.content(), new RegExp(token), "nor in the page");
  } finally {
    await context.close();
    await supervisor.shutdown("test");
    await dashboard.close();
    await server.close();
  }
});
