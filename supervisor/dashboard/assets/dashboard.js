// The supervisor's dashboard page. Plain JavaScript, no build step, no external assets.
// One EventSource carries everything (supervisor/dashboard/dashboard_server.ts): `hello` on connect,
// `snapshot` once per aggregation round, `timeline` per supervisor event. Buttons POST to the
// control API. When the supervisor has a token, the user pastes it once; it stays in this
// tab's sessionStorage and is never put in a URL (the stream uses a one-time ticket).

const TOKEN_KEY = "trading.supervisor.token";
const MAX_POINTS = 300;
const MAX_EVENTS = 200;

const THROUGHPUT_SERIES = [
  { key: "ticksPerSecond", label: "ticks/s", color: "#58a6ff" },
  { key: "commandsPerSecond", label: "commands/s", color: "#d29922" },
  // Dashed: with no rejects and no DLQ, events/s lies exactly on commands/s.
  { key: "eventsPerSecond", label: "events/s", color: "#3fb950", dash: [5, 4] },
];
const LATENCY_SERIES = [
  { key: "endToEndP50Ms", label: "e2e p50 ms", color: "#58a6ff" },
  { key: "endToEndP99Ms", label: "e2e p99 ms", color: "#f85149" },
  { key: "raftApplyP99Ms", label: "apply p99 ms", color: "#a371f7" },
];

const state = {
  tokenRequired: false,
  /** @type {EventSource | null} */
  source: null,
  reconnectTimer: 0,
  /** @type {Array<Record<string, number | null>>} */
  points: [],
  lastSeq: 0,
};

const $ = (id) => document.getElementById(id);

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function authHeaders() {
  const value = token();
  return value ? { authorization: `Bearer ${value}` } : {};
}

// ---------------------------------------------------------------------------------------
// Connection

async function start() {
  drawLegend("legend-throughput", THROUGHPUT_SERIES);
  drawLegend("legend-latency", LATENCY_SERIES);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
    $("token-input").value = "";
    $("token-form").hidden = true;
    connect();
  });
  try {
    const config = await (await fetch("/dashboard/config")).json();
    state.tokenRequired = config.tokenRequired === true;
  } catch {
    setConnection(false, "supervisor unreachable");
    scheduleReconnect(start);
    return;
  }
  if (state.tokenRequired && !token()) askForToken("");
  else connect();
}

function askForToken(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  $("token-error").textContent = message;
  $("token-form").hidden = false;
  $("token-input").focus();
  setConnection(false, "token needed");
}

async function connect() {
  clearTimeout(state.reconnectTimer);
  state.source?.close();
  state.source = null;
  let url = "/dashboard/stream";
  if (state.tokenRequired) {
    let response;
    try {
      response = await fetch("/dashboard/ticket", {
        method: "POST",
        headers: { "content-type": "application/json", ...authHeaders() },
      });
    } catch {
      setConnection(false, "supervisor unreachable");
      scheduleReconnect(connect);
      return;
    }
    if (response.status === 401) {
      askForToken("That token was refused.");
      return;
    }
    if (!response.ok) {
      setConnection(false, `ticket refused (${response.status})`);
      scheduleReconnect(connect);
      return;
    }
    const { ticket } = await response.json();
    url += `?ticket=${encodeURIComponent(ticket)}`;
  }
  const source = new EventSource(url);
  state.source = source;
  source.addEventListener("open", () => setConnection(true, "live"));
  source.addEventListener("hello", (event) => onHello(JSON.parse(event.data)));
  source.addEventListener("snapshot", (event) => onSnapshot(JSON.parse(event.data)));
  source.addEventListener("timeline", (event) => addEvents([JSON.parse(event.data)]));
  source.addEventListener("error", () => {
    setConnection(false, "reconnecting");
    // A ticket is single-use: the browser's own retry would present a spent one.
    if (state.tokenRequired || source.readyState === EventSource.CLOSED) {
      source.close();
      if (state.source === source) state.source = null;
      scheduleReconnect(connect);
    }
  });
}

function scheduleReconnect(what) {
  clearTimeout(state.reconnectTimer);
  state.reconnectTimer = setTimeout(what, 1000);
}

function setConnection(live, text) {
  const badge = $("connection");
  badge.textContent = text;
  badge.className = `badge ${live ? "ok" : "bad"}`;
}

// ---------------------------------------------------------------------------------------
// Rendering

function onHello(hello) {
  state.points = hello.history.slice(-MAX_POINTS);
  $("timeline").replaceChildren();
  state.lastSeq = 0;
  addEvents(hello.events);
  if (hello.snapshot) onSnapshot(hello.snapshot);
  drawCharts();
}

function onSnapshot(snapshot) {
  renderSummary(snapshot);
  renderChildren(snapshot.children);
  renderRaft(snapshot.raft);
  renderPipeline(snapshot.pipeline);
  const last = state.points.at(-1);
  const point = pointOf(snapshot);
  if (point && (!last || last.t !== point.t)) {
    state.points.push(point);
    if (state.points.length > MAX_POINTS) state.points.shift();
    drawCharts();
  }
}

/** The chart point of a snapshot: the newest scrape's figures, stamped with the snapshot. */
function pointOf(snapshot) {
  const p = snapshot.pipeline;
  if (!p) return null;
  return {
    t: p.at ?? Date.parse(snapshot.time),
    ticksPerSecond: p.ticksPerSecond,
    commandsPerSecond: p.commandsPerSecond,
    eventsPerSecond: p.eventsPerSecond,
    endToEndP50Ms: p.endToEnd.p50Ms,
    endToEndP99Ms: p.endToEnd.p99Ms,
    raftApplyP99Ms: p.raftApply.p99Ms,
  };
}

function renderSummary(snapshot) {
  $("leader").textContent = snapshot.raft.leader ?? "none";
  $("term").textContent = snapshot.raft.term ?? "-";
  const ready = $("ready");
  ready.textContent = snapshot.shuttingDown
    ? "shutting down"
    : snapshot.ready
    ? "all ready"
    : "not ready";
  ready.className = `badge ${snapshot.ready && !snapshot.shuttingDown ? "ok" : "bad"}`;
}

/** Updates a keyed row set in place, so that a button under the pointer stays put. */
function rowFor(tbody, key, attribute, build) {
  let row = tbody.querySelector(`tr[${attribute}="${CSS.escape(key)}"]`);
  if (!row) {
    row = build();
    row.setAttribute(attribute, key);
    tbody.append(row);
  }
  return row;
}

function cells(row, names) {
  for (const name of names) {
    const td = document.createElement("td");
    td.className = name;
    row.append(td);
  }
}

function setCell(row, name, text, className) {
  const td = row.querySelector(`td.${name}`);
  td.textContent = text;
  td.className = className ? `${name} ${className}` : name;
}

function renderChildren(children) {
  const tbody = $("children").tBodies[0];
  for (const child of children) {
    const row = rowFor(tbody, child.name, "data-child", () => {
      const tr = document.createElement("tr");
      cells(tr, ["name", "state", "pid", "restarts", "uptime", "health", "last-exit"]);
      const actions = document.createElement("td");
      actions.className = "actions";
      for (const action of ["pause", "resume", "kill"]) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = action;
        button.dataset.action = action;
        if (action === "kill") button.className = "danger";
        button.addEventListener("click", () => control(action, child.name));
        actions.append(button);
      }
      tr.append(actions);
      return tr;
    });
    setCell(row, "name", child.name);
    setCell(row, "state", child.state, `state-${child.state}`);
    setCell(row, "pid", child.pid ?? "-");
    setCell(row, "restarts", String(child.restarts));
    setCell(row, "uptime", child.uptimeMs === null ? "-" : duration(child.uptimeMs));
    const health = child.healthy === null
      ? ["-", ""]
      : child.healthy
      ? ["healthy", "health-ok"]
      : [`not ready: ${child.healthDetail ?? "?"}`, "health-bad"];
    setCell(row, "health", health[0], health[1]);
    setCell(row, "last-exit", child.failure ?? child.lastExit ?? "-");
    const alive = child.pid !== null && child.state !== "stopping";
    row.querySelector('[data-action="pause"]').disabled = !alive || child.state === "paused";
    row.querySelector('[data-action="resume"]').disabled = child.state !== "paused";
    row.querySelector('[data-action="kill"]').disabled = !alive;
  }
}

function renderRaft(raft) {
  const tbody = $("raft").tBodies[0];
  for (const node of raft.nodes) {
    const row = rowFor(tbody, node.name, "data-node", () => {
      const tr = document.createElement("tr");
      cells(tr, ["node", "role", "term", "commit", "applied", "last", "orders"]);
      return tr;
    });
    const isLeader = raft.leader !== null && (node.nodeId ?? node.name) === raft.leader;
    row.classList.toggle("leader", isLeader);
    setCell(row, "node", node.name);
    if (node.reachable) {
      setCell(row, "role", node.role, `role-${node.role}`);
    } else {
      setCell(row, "role", "unreachable", "unreachable");
      row.querySelector("td.role").title = node.error ?? "";
    }
    setCell(row, "term", node.term ?? "-");
    setCell(row, "commit", node.commit ?? "-");
    setCell(row, "applied", node.applied ?? "-");
    setCell(row, "last", node.lastIndex ?? "-");
    setCell(row, "orders", node.orders ?? "-");
  }
}

function renderPipeline(p) {
  const text = (value, unit = "") =>
    value === null || value === undefined ? "-" : `${value}${unit}`;
  $("ticks-rate").textContent = text(p?.ticksPerSecond);
  $("commands-rate").textContent = text(p?.commandsPerSecond);
  $("events-rate").textContent = text(p?.eventsPerSecond);
  $("e2e-p99").textContent = text(p?.endToEnd.p99Ms, " ms");
  $("apply-p99").textContent = text(p?.raftApply.p99Ms, " ms");
  $("lag-total").textContent = text(p?.totalLag);
  $("dlq").textContent = text(p?.dlq);
  $("outbox").textContent = text(p?.outboxDepth);
  const tbody = $("lag").tBodies[0];
  const rows = (p?.lag ?? []).map((l) => {
    const tr = document.createElement("tr");
    for (const value of [l.group, l.topic, l.partition, l.lag]) {
      const td = document.createElement("td");
      td.textContent = String(value);
      tr.append(td);
    }
    return tr;
  });
  tbody.replaceChildren(...rows);
}

function addEvents(events) {
  const list = $("timeline");
  for (const event of events) {
    if (event.seq <= state.lastSeq) continue;
    state.lastSeq = event.seq;
    const li = document.createElement("li");
    li.dataset.kind = event.kind;
    if (event.child) li.dataset.child = event.child;
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = new Date(event.time).toLocaleTimeString([], { hour12: false });
    const kind = document.createElement("span");
    kind.className = `kind kind-${event.kind}`;
    kind.textContent = event.kind;
    const message = document.createElement("span");
    message.className = "message";
    message.textContent = event.message;
    li.append(time, kind, message);
    li.title = event.fields ? JSON.stringify(event.fields) : "";
    list.prepend(li);
  }
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
}

function duration(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

// ---------------------------------------------------------------------------------------
// Control

async function control(action, name) {
  if (
    action === "kill" &&
    !confirm(`Kill ${name} with SIGKILL? Its restart policy decides what follows.`)
  ) {
    return;
  }
  const output = $("control-output");
  output.className = "output";
  output.textContent = `${action} ${name}...`;
  try {
    const response = await fetch("/control", {
      method: "POST",
      headers: { "content-type": "application/json", ...authHeaders() },
      body: JSON.stringify({ command: `${action} ${name}` }),
    });
    const body = await response.json();
    output.textContent = body.output;
    if (!body.ok) output.className = "output error";
    if (response.status === 401) askForToken("That token was refused.");
  } catch (error) {
    output.className = "output error";
    output.textContent = `Cannot reach the supervisor: ${error.message}`;
  }
}

// ---------------------------------------------------------------------------------------
// Charts: small line charts on canvas, one per panel.

function drawLegend(id, series) {
  const legend = $(id);
  legend.replaceChildren(
    ...series.flatMap((s) => {
      const swatch = document.createElement("i");
      swatch.style.background = s.color;
      return [swatch, document.createTextNode(s.label)];
    }),
  );
}

function drawCharts() {
  drawChart($("chart-throughput"), THROUGHPUT_SERIES);
  drawChart($("chart-latency"), LATENCY_SERIES);
}

function drawChart(canvas, series) {
  const ratio = globalThis.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  const points = state.points;
  const left = 44;
  const bottom = height - 16;
  const top = 6;
  const values = points.flatMap((p) => series.map((s) => p[s.key])).filter((v) =>
    typeof v === "number" && Number.isFinite(v)
  );
  const max = niceCeiling(Math.max(1, ...values));
  g.strokeStyle = "#2a323c";
  g.fillStyle = "#8592a0";
  g.font = "11px system-ui, sans-serif";
  g.lineWidth = 1;
  for (const fraction of [0, 0.5, 1]) {
    const y = bottom - (bottom - top) * fraction;
    g.beginPath();
    g.moveTo(left, y + 0.5);
    g.lineTo(width, y + 0.5);
    g.stroke();
    g.fillText(formatNumber(max * fraction), 2, y + 4);
  }
  if (points.length < 2) {
    g.fillText("waiting for data", left + 8, top + 20);
    return;
  }
  const t0 = points[0].t;
  const span = Math.max(1, points.at(-1).t - t0);
  g.fillText(`${Math.round(span / 1000)} s`, width - 36, height - 3);
  const x = (t) => left + ((width - left - 2) * (t - t0)) / span;
  const y = (v) => bottom - ((bottom - top) * v) / max;
  g.lineWidth = 1.5;
  for (const s of series) {
    g.strokeStyle = s.color;
    g.setLineDash(s.dash ?? []);
    g.beginPath();
    let drawing = false;
    for (const p of points) {
      const v = p[s.key];
      if (typeof v !== "number" || !Number.isFinite(v)) {
        drawing = false;
        continue;
      }
      if (drawing) g.lineTo(x(p.t), y(v));
      else g.moveTo(x(p.t), y(v));
      drawing = true;
    }
    g.stroke();
  }
  g.setLineDash([]);
}

function niceCeiling(value) {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (value <= step * magnitude) return step * magnitude;
  }
  return 10 * magnitude;
}

function formatNumber(value) {
  if (value >= 1000) return `${Math.round(value / 100) / 10}k`;
  return String(Math.round(value * 10) / 10);
}

globalThis.addEventListener("resize", drawCharts);
start();
