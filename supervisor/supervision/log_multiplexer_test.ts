import assert from "node:assert/strict";
import { LogMultiplexer } from "./log_multiplexer.ts";

function capture(pretty: boolean, color = false) {
  const out: string[] = [];
  const mux = new LogMultiplexer({ pretty, color, write: (text) => out.push(text) });
  return { mux, out };
}

const jsonLine = JSON.stringify({
  time: "2026-01-02T03:04:05.678Z",
  level: "warn",
  service: "raft-1",
  category: "raft",
  message: "became leader",
  fields: { term: 3, node: "raft-1" },
});

Deno.test("LogMultiplexer passes a child's JSON line through unchanged when piped", () => {
  const { mux, out } = capture(false);
  mux.line("raft-1", "stdout", jsonLine);
  assert.deepEqual(out, [jsonLine + "\n"]);
});

Deno.test("LogMultiplexer wraps a non-JSON line as a JSON log line when piped", () => {
  const { mux, out } = capture(false);
  mux.line("broker", "stderr", "panic: something");
  mux.line("broker", "stdout", "[1, 2]"); // JSON, but not a log record
  const [first, second] = out.map((line) => JSON.parse(line));
  assert.equal(first.service, "broker");
  assert.equal(first.category, "stderr");
  assert.equal(first.level, "warn");
  assert.equal(first.message, "panic: something");
  assert.match(first.time, /^\d{4}-/);
  assert.equal(second.category, "stdout");
  assert.equal(second.level, "info");
  assert.equal(second.message, "[1, 2]");
});

Deno.test("LogMultiplexer prefixes a padded name on a terminal and renders JSON readably", () => {
  const { mux, out } = capture(true);
  mux.line("raft-1", "stdout", jsonLine);
  mux.line("raft-1", "stdout", "plain text");
  assert.deepEqual(out, [
    "raft-1           | 03:04:05.678 WARN  raft became leader term=3 node=raft-1\n",
    "raft-1           | plain text\n",
  ]);
});

Deno.test("LogMultiplexer widens the name column to the longest registered name", () => {
  const { mux, out } = capture(true);
  mux.register("a-very-long-child-name");
  mux.line("a", "stdout", "x");
  assert.equal(out[0], `${"a".padEnd(22)} | x\n`);
});

Deno.test("LogMultiplexer colours names and levels only when asked", () => {
  const { mux, out } = capture(true, true);
  mux.line("raft-1", "stdout", jsonLine);
  const ESC = "\x1b";
  assert.ok(out[0]!.startsWith(`${ESC}[36mraft-1           |${ESC}[0m `), JSON.stringify(out[0]));
  assert.ok(out[0]!.includes(`${ESC}[33mWARN`), "warn in yellow");
});

Deno.test("LogMultiplexer drops blank lines", () => {
  const { mux, out } = capture(false);
  mux.line("a", "stdout", "   ");
  assert.deepEqual(out, []);
});

Deno.test("LogMultiplexer on a terminal leaves out fields the message already shows", () => {
  const { mux, out } = capture(true);
  mux.line(
    "supervisor",
    "stdout",
    JSON.stringify({
      time: "2026-01-02T03:04:05.678Z",
      level: "info",
      category: "supervisor",
      message: "started raft-1 (pid 42)",
      fields: {
        event: "started",
        child: "raft-1",
        pid: 42,
        ports: [1, 2],
        attempt: 3,
        signal: null,
      },
    }),
  );
  assert.equal(
    out[0],
    "supervisor       | 03:04:05.678 INFO  supervisor started raft-1 (pid 42) ports=[1,2] attempt=3\n",
  );
});
