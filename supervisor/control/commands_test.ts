import assert from "node:assert/strict";
import { z } from "zod";
import { arg, defaultCommands, formatStatusTable, type ParsedCommand } from "./commands.ts";
import { Supervisor } from "../supervision/supervisor.ts";

const context = { names: ["broker", "raft-1", "raft-2"], targets: [] as string[] };

function parsed(text: string): ParsedCommand {
  const result = defaultCommands().parse(text, context);
  if ("error" in result) throw new Error(result.error);
  return result;
}

function parseError(text: string): string {
  const result = defaultCommands().parse(text, context);
  if (!("error" in result)) throw new Error(`"${text}" parsed, expected an error`);
  return result.error;
}

Deno.test("CommandRegistry.parse() accepts the base commands with valid arguments", () => {
  assert.deepEqual(parsed("status").args, []);
  assert.deepEqual(parsed("kill raft-2").args, ["raft-2"]);
  assert.deepEqual(parsed("  pause   raft-1  1500 ").args, ["raft-1", 1500]);
  assert.deepEqual(parsed("pause broker").args, ["broker"]);
  assert.deepEqual(parsed("resume raft-1").args, ["raft-1"]);
  assert.deepEqual(parsed("restart broker").args, ["broker"]);
  assert.equal(parsed("shutdown").definition.name, "shutdown");
  assert.equal(parsed("help").definition.name, "help");
});

Deno.test("CommandRegistry.parse() rejects an unknown command with the full usage", () => {
  const error = parseError("explode raft-1");
  assert.match(error, /^Unknown command "explode"\n\nCommands:\n/);
  assert.match(error, /pause <name> \[ms\]/);
  assert.match(error, /Names: broker, raft-1, raft-2/);
  assert.match(parseError("   "), /^Empty command/);
});

Deno.test("CommandRegistry.parse() rejects an unknown name, listing the names", () => {
  assert.equal(
    parseError("kill raft-9"),
    'Unknown name "raft-9": expected one of broker, raft-1, raft-2\n\nUsage: kill <name>',
  );
});

Deno.test("CommandRegistry.parse() rejects a wrong number of arguments or a bad duration", () => {
  assert.match(parseError("kill"), /^Wrong number of arguments for "kill"\n\nUsage: kill <name>$/);
  assert.match(parseError("status now"), /^Wrong number of arguments for "status"/);
  assert.match(parseError("pause raft-1 10 20"), /^Wrong number of arguments for "pause"/);
  assert.match(parseError("pause raft-1 soon"), /^Invalid duration "soon": expected milliseconds/);
  assert.match(parseError("pause raft-1 0"), /^Invalid duration "0"/);
  assert.match(parseError("pause raft-1 3600001"), /^Invalid duration "3600001"/);
});

Deno.test("CommandRegistry takes a new target word without a change to the parser", async () => {
  const commands = defaultCommands().registerTarget({
    word: "leader",
    summary: "the current Raft leader",
    resolve: () => Promise.resolve("raft-2"),
  });
  assert.match(commands.usage(), /Target "leader": the current Raft leader/);
  await using supervisor = new Supervisor({
    specs: ["raft-1", "raft-2"].map((name) => ({ name, command: { executable: "/bin/true" } })),
  });
  // Not started: the kill fails, and the failure names the child "leader" resolved to.
  const result = await commands.execute("kill leader", supervisor);
  assert.deepEqual(result, {
    ok: false,
    output: "Cannot kill raft-2: it is not running (state stopped)",
    usageError: false,
  });
  // `resume` takes names only: the target word is a usage error there.
  assert.equal((await commands.execute("resume leader", supervisor)).usageError, true);
});

Deno.test("CommandRegistry takes a new command word without a change to the parser", async () => {
  const commands = defaultCommands().register({
    name: "chaos",
    usage: "chaos <name|all> <profile|off>",
    summary: "transport faults",
    args: (ctx) =>
      z.tuple([z.union([arg.name(ctx), z.literal("all")]), z.string().regex(/^[a-z0-9=,-]+$/)]),
    run: ([node, profile]) => `chaos ${node} ${profile}`,
  });
  await using supervisor = new Supervisor({
    specs: [{ name: "raft-1", command: { executable: "/bin/true" } }],
  });
  assert.deepEqual(await commands.execute("chaos all drop-pct=30", supervisor), {
    ok: true,
    output: "chaos all drop-pct=30",
    usageError: false,
  });
  assert.equal((await commands.execute("chaos raft-7 off", supervisor)).usageError, true);
  assert.match(commands.usage(), /chaos <name\|all> <profile\|off>/);
});

Deno.test("formatStatusTable() shows one aligned row per child", () => {
  const table = formatStatusTable([
    {
      name: "raft-1",
      pid: 1234,
      state: "running",
      restarts: 2,
      uptimeMs: 61_000,
      startedAt: null,
      lastExit: { code: 137, signal: "SIGKILL", at: "" },
      health: { ok: true, at: "" },
      failure: null,
      ports: { grpc: 50070, http: 8080 },
      restart: "permanent",
      dependsOn: [],
    },
    {
      name: "broker",
      pid: null,
      state: "failed",
      restarts: 5,
      uptimeMs: null,
      startedAt: null,
      lastExit: { code: 1, signal: null, at: "" },
      health: null,
      failure: "more than 5 restarts within 60000 ms",
      ports: {},
      restart: "permanent",
      dependsOn: [],
    },
  ]);
  assert.equal(
    table,
    [
      "NAME    STATE    PID   RESTARTS  UPTIME  HEALTH  LAST EXIT  PORTS",
      "raft-1  running  1234  2         1m1s    ready   SIGKILL    grpc:50070 http:8080",
      "broker  failed   -     5         -       -       code 1     -",
    ].join("\n"),
  );
});

Deno.test("CommandRegistry.register() throws on a word that is taken; override() replaces it", () => {
  const registry = defaultCommands();
  const status = {
    name: "status",
    usage: "status",
    summary: "another status",
    args: () => z.tuple([]),
    run: () => "overridden",
  };
  assert.throws(() => registry.register(status), /Command "status" is registered already/);
  registry.override(status);
  assert.throws(
    () => registry.override({ ...status, name: "no-such-word" }),
    /Command "no-such-word" is not registered/,
  );
  const target = { word: "leader", summary: "x", resolve: () => Promise.resolve("a") };
  registry.registerTarget(target);
  assert.throws(() => registry.registerTarget(target), /Target word "leader" is registered/);
});
