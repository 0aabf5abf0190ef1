/**
 * The supervisor's chaos words (issue 6), one registry for the REPL, `deno task ctl` and
 * `POST /control`:
 *
 * - `kill <name|leader>`, `pause <name|leader> [ms]`: the base words, each fault also recorded
 *   as a `fault-start` / `fault-stop` pair (fault_tracker.ts); `resume <name>` ends a pause.
 * - `chaos <raft-N|all> <profile|off> [seed]`: a node's transport faults at runtime
 *   (RaftAdmin.SetChaos), the profile as in CHAOS_PROFILE plus the word `exit-on-leader`.
 * - `partition <raft-N>`: isolates a node both ways: it drops everything to and from all its
 *   peers, and every peer drops everything to and from it.
 * - `heal`: every network fault undone on every node (partitions, drops, delays, and the
 *   exit-on-leader switch).
 * - `verify [s]`: runs the verifier role on the pipeline's Kafka.
 *
 * @module
 */
import { z } from "zod";
import type { ChaosState } from "@trading/proto/raft";
import { EXIT_ON_LEADER_WORD, parseRuntimeChaosProfile } from "@trading/shared/chaos";
import { errorMessage } from "@trading/shared/retry";
import {
  arg,
  type CommandRegistry,
  defaultCommands,
  formatStatusTable,
  type ParseContext,
} from "./commands.ts";
import { faultTracker } from "./fault_tracker.ts";
import {
  clusterSecretOf,
  RAFT_CALL_DEADLINE_MS,
  type RaftNodeRef,
  raftNodesOf,
  registerRaftCommands,
} from "./raft_commands.ts";
import {
  callRaftNodes,
  type RaftCallRequest,
  type RaftCallResult,
  type RaftMethods,
} from "./raft_call.ts";
import { selfCommand } from "../supervision/self_command.ts";
import type { Supervisor } from "../supervision/supervisor.ts";

/** A runtime chaos profile, validated: CHAOS_PROFILE's parts and the exit-on-leader switch. */
export interface ChaosProfileArg {
  /** The profile as sent to SetChaos. */
  readonly text: string;
  /** True when drops or delays are asked for. */
  readonly network: boolean;
  readonly exitOnLeader: boolean;
}

/** Parses `drop-pct=30,delay=50-250[,exit-on-leader]` or `off`; throws naming the bad part. */
export function parseRuntimeProfile(text: string): ChaosProfileArg {
  const profile = parseRuntimeChaosProfile(text);
  return {
    text: text.trim(),
    network: profile.dropPct > 0 || profile.delayMsMax > 0,
    exitOnLeader: profile.exitOnLeader,
  };
}

const raftArg = {
  /** A raft node's child name. */
  node(names: readonly string[]): z.ZodType<string, string> {
    return z.string().refine((word) => names.includes(word), {
      error: (issue) =>
        `Unknown Raft node "${String(issue.input)}": expected one of ${names.join(", ")}`,
    });
  },
  profile(): z.ZodType<ChaosProfileArg, string> {
    return z.string().transform((word, context) => {
      try {
        return parseRuntimeProfile(word);
      } catch (error) {
        context.addIssue({
          code: "custom",
          message: `${errorMessage(error)} (or ${EXIT_ON_LEADER_WORD}, or off)`,
        });
        return z.NEVER;
      }
    });
  },
  seed(): z.ZodType<number, string> {
    return z.string().refine((word) => /^[1-9]\d{0,8}$/.test(word), {
      error: (issue) => `Invalid seed "${String(issue.input)}": expected an integer 1-999999999`,
    }).transform(Number);
  },
  seconds(): z.ZodType<number, string> {
    return z.string().refine((word) => /^\d{1,4}$/.test(word) && +word >= 1 && +word <= 3600, {
      error: (issue) => `Invalid duration "${String(issue.input)}": expected seconds 1-3600`,
    }).transform(Number);
  },
};

/** Raft node child names, read from the parse context (names that look like `raft-N`). */
function raftNames(context: ParseContext): string[] {
  return context.names.filter((name) => /^raft-\d+$/.test(name));
}

/** The raft node refs named `target` (`all` for every node). */
function selectNodes(supervisor: Supervisor, target: string): RaftNodeRef[] {
  const nodes = raftNodesOf(supervisor);
  return target === "all" ? nodes : nodes.filter((n) => n.child === target);
}

/**
 * Makes one RaftAdmin call per node (one `raft-call` process); returns one line per node and
 * the nodes whose call failed.
 */
/** Rounds of one admin call per node: the first, and the retries of those that timed out. */
const CHAOS_CALL_ROUNDS = 3;

async function onEveryNode<M extends "setChaos" | "partition" | "heal" | "getChaos">(
  nodes: readonly RaftNodeRef[],
  method: M,
  request: (node: RaftNodeRef) => RaftMethods[M]["request"],
  then: (node: RaftNodeRef, state: ChaosState) => void = () => {},
): Promise<{ lines: string[]; failed: RaftNodeRef[]; states: Map<RaftNodeRef, ChaosState> }> {
  const lines: string[] = [];
  const failed: RaftNodeRef[] = [];
  const states = new Map<RaftNodeRef, ChaosState>();
  if (nodes.length === 0) return { lines, failed, states };
  // Every admin call sets a state, so a call that timed out (a loaded machine, a channel still
  // connecting) is made again, up to CHAOS_CALL_ROUNDS times in all: a heal that fails
  // leaves a fault behind. A paused node holds the command for that many deadlines at most.
  const results: RaftCallResult<M>[] = new Array(nodes.length);
  let pending = nodes.map((_, i) => i);
  for (let round = 1; round <= CHAOS_CALL_ROUNDS && pending.length > 0; round++) {
    const calls = pending.map((i) =>
      ({ addr: nodes[i]!.grpcAddr, method, request: request(nodes[i]!) }) as RaftCallRequest
    );
    const answers = await callRaftNodes(calls, {
      deadlineMs: RAFT_CALL_DEADLINE_MS,
      clusterSecret: clusterSecretOf(nodes),
    });
    answers.forEach((answer, k) => results[pending[k]!] = answer as RaftCallResult<M>);
    pending = pending.filter((i) => !results[i]!.ok && /DEADLINE_EXCEEDED/.test(results[i]!.error));
  }
  results.forEach((result, i) => {
    const node = nodes[i]!;
    if (result.ok) {
      const state = result.response as ChaosState;
      states.set(node, state);
      then(node, state);
      lines.push(`${node.child}: ${describeState(state)}`);
    } else {
      failed.push(node);
      lines.push(`${node.child}: failed: ${result.error}`);
    }
  });
  return { lines, failed, states };
}

function describeState(state: ChaosState): string {
  const partitioned = state.partitionedFrom.length > 0
    ? `, partitioned from ${state.partitionedFrom.join(",")}`
    : "";
  return `chaos ${state.enabled ? "on" : "off"}, profile ${state.profile}${partitioned}`;
}

/** Whether `state` still carries the exit-on-leader switch. */
function exitsOnLeader(state: ChaosState): boolean {
  return state.profile.split(",").includes(EXIT_ON_LEADER_WORD);
}

function finish(lines: string[], failed: readonly RaftNodeRef[]): string {
  const text = lines.join("\n");
  if (failed.length > 0) {
    throw new Error(`${text}\n(${failed.map((n) => n.child).join(", ")} not changed)`);
  }
  return text;
}

/** Options of {@linkcode registerChaosCommands}. */
export interface ChaosCommandOptions {
  /** Runs the verifier for `seconds` on `brokers`; default the `verify` role of this executable. */
  verify?: (seconds: number, brokers: string) => Promise<{ code: number; output: string }>;
}

/** Runs `main.ts verify <seconds> <brokers>` and collects its output. */
async function runVerifierRole(
  seconds: number,
  brokers: string,
): Promise<{ code: number; output: string }> {
  const command = selfCommand("verify", [String(seconds), brokers]);
  const result = await new Deno.Command(command.executable, {
    args: command.args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // The verifier reads for `seconds` and then checks; a hung one must not hold the command.
    signal: AbortSignal.timeout((seconds + 60) * 1000),
  }).output();
  const decoder = new TextDecoder();
  const output = `${decoder.decode(result.stdout)}${decoder.decode(result.stderr)}`.trimEnd();
  return { code: result.code, output };
}

/**
 * Adds the chaos words to `registry` and overrides the base `status`, `kill` and `pause` with
 * versions that record faults; returns it. Use after `registerRaftCommands` so that the
 * `leader` target exists.
 */
export function registerChaosCommands(
  registry: CommandRegistry,
  options: ChaosCommandOptions = {},
): CommandRegistry {
  const verify = options.verify ?? runVerifierRole;
  return registry
    .override({
      name: "status",
      usage: "status",
      summary: "every child: state, pid, restarts, uptime, health, last exit, ports; active faults",
      args: () => z.tuple([]),
      run: (_args, { supervisor }) => {
        const table = formatStatusTable(supervisor.status());
        const faults = faultTracker(supervisor).active();
        if (faults.length === 0) return table;
        const lines = faults.map((f) =>
          `  ${f.id}  ${f.kind} ${f.target}${f.detail ? ` (${f.detail})` : ""} since ${f.startedAt}`
        );
        return `${table}\n\nActive faults:\n${lines.join("\n")}`;
      },
    })
    .override({
      name: "kill",
      usage: "kill <name|leader>",
      summary: "SIGKILL a child; its restart policy brings it back",
      args: (context) => z.tuple([arg.target(context)]),
      run: async ([target], { supervisor, resolveTarget }) => {
        const name = await resolveTarget(target);
        const output = supervisor.kill(name);
        faultTracker(supervisor).start(
          "kill",
          name,
          target === name ? "" : `was ${target}`,
          ["ready", "failed", "stopped"],
        );
        return target === name ? output : `${output} (the ${target})`;
      },
    })
    .override({
      name: "pause",
      usage: "pause <name|leader> [ms]",
      summary: "SIGSTOP a child; SIGCONT after ms when given",
      args: (context) => z.tuple([arg.target(context), arg.ms().optional()]),
      run: async ([target, ms], { supervisor, resolveTarget }) => {
        const name = await resolveTarget(target);
        const output = supervisor.pause(name, ms);
        const detail = [target === name ? "" : `was ${target}`, ms ? `${ms} ms` : ""]
          .filter((d) => d !== "").join(", ");
        faultTracker(supervisor).start("pause", name, detail, ["resumed", "exited"]);
        return target === name ? output : `${output} (the ${target})`;
      },
    })
    .register({
      name: "chaos",
      usage: "chaos <raft-N|all> <profile|off> [seed]",
      summary: "set a Raft node's transport faults now: drop-pct=30,delay=50-250[,exit-on-leader]",
      args: (context) =>
        z.tuple([
          raftArg.node([...raftNames(context), "all"]),
          raftArg.profile(),
          raftArg.seed().optional(),
        ]),
      run: async ([target, profile, seed], { supervisor }) => {
        const nodes = selectNodes(supervisor, target);
        const faults = faultTracker(supervisor);
        const request = {
          enabled: profile.network,
          profile: profile.text,
          targetNodeId: "",
          seed: seed ?? 0,
        };
        const { lines, failed } = await onEveryNode(
          nodes,
          "setChaos",
          () => request,
          (node, state) => {
            faults.stop(
              (f) =>
                f.target === node.child && (f.kind === "network" || f.kind === "exit-on-leader"),
              profile.text === "off" ? "chaos off" : "replaced",
            );
            const networkDetail = state.profile.split(",").filter((p) => p !== EXIT_ON_LEADER_WORD)
              .join(",");
            if (profile.network) {
              faults.start("network", node.child, `${networkDetail}, seed ${state.seed}`, [
                "exited",
              ]);
            }
            if (profile.exitOnLeader) faults.start("exit-on-leader", node.child, "", ["exited"]);
          },
        );
        return finish(lines, failed);
      },
    })
    .register({
      name: "partition",
      usage: "partition <raft-N>",
      summary: "isolate a Raft node both ways from every peer until heal",
      args: (context) => z.tuple([raftArg.node(raftNames(context))]),
      run: async ([target], { supervisor }) => {
        const nodes = raftNodesOf(supervisor);
        const isolated = nodes.find((n) => n.child === target)!;
        const { lines, failed } = await onEveryNode(nodes, "partition", (node) => ({
          peers: node === isolated ? [] : [isolated.nodeId],
        }));
        // One fault: the isolation holds as long as either side still drops.
        if (failed.length < nodes.length) {
          faultTracker(supervisor).start(
            "partition",
            target,
            failed.length === 0
              ? "from every peer, both ways"
              : `partly: ${failed.map((n) => n.child).join(", ")} not told`,
          );
        }
        return finish(lines, failed);
      },
    })
    .register({
      name: "heal",
      usage: "heal",
      summary:
        "undo every network fault on every Raft node (partitions, drops, delays, exit-on-leader)",
      args: () => z.tuple([]),
      run: async (_args, { supervisor }) => {
        const nodes = raftNodesOf(supervisor);
        const faults = faultTracker(supervisor);
        const healed = await onEveryNode(nodes, "heal", () => ({}));
        // Heal keeps exit-on-leader (transport/chaos.ts); a user who heals wants it gone too.
        const exiting = nodes.filter((n) => {
          const state = healed.states.get(n);
          return state !== undefined && exitsOnLeader(state);
        });
        const lifted = await onEveryNode(exiting, "setChaos", () => ({
          enabled: false,
          profile: "off",
          targetNodeId: "",
          seed: 0,
        }));
        const failed = [...healed.failed, ...lifted.failed];
        const lines = healed.lines.map((line, i) => {
          const node = nodes[i]!;
          const state = lifted.states.get(node);
          if (state) return `${node.child}: ${describeState(state)}`;
          return lifted.failed.includes(node) ? `${line} (exit-on-leader not lifted)` : line;
        });
        for (const node of nodes) {
          if (failed.includes(node)) continue;
          faults.stop(
            (f) => f.target === node.child && (f.kind === "network" || f.kind === "exit-on-leader"),
            "healed",
          );
        }
        if (failed.length === 0) faults.stop((f) => f.kind === "partition", "healed");
        return finish(lines, failed);
      },
    })
    .register({
      name: "verify",
      usage: "verify [s]",
      summary: "run the verifier for s seconds (default 10): duplicates and lost orders",
      args: () => z.tuple([raftArg.seconds().optional()]),
      run: async ([seconds], { supervisor }) => {
        const brokers = supervisor.specs.map((s) => s.env["KAFKA_BROKERS"]).find((b) => b);
        if (!brokers) throw new Error("No KAFKA_BROKERS in the children's environment");
        const result = await verify(seconds ?? 10, brokers);
        if (result.code !== 0) {
          throw new Error(`verifier exited with code ${result.code}\n${result.output}`);
        }
        return result.output;
      },
    });
}

/** The pipeline's command registry: the base words, the Raft words and the chaos words. */
export function pipelineCommands(options: ChaosCommandOptions = {}): CommandRegistry {
  return registerChaosCommands(registerRaftCommands(defaultCommands()), options);
}
