/**
 * The membership codec and rules: the bytes of a config entry and of
 * `InstallSnapshotRequest.configuration`, and the single-server change applied to a
 * {@linkcode ConfState}.
 *
 * @module
 */
import type { ConfChange, ConfState, NodeId } from "./types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The membership with no members (a node that has not joined a cluster yet). */
export const EMPTY_CONF: ConfState = Object.freeze({
  voters: Object.freeze([]),
  learners: Object.freeze([]),
  context: Object.freeze({}),
});

/**
 * Encodes a membership as UTF-8 JSON (`{"voters":[...],"learners":[...],"context":{...}}`).
 * Membership changes are rare, so readability beats compactness here.
 */
export function encodeConfState(conf: ConfState): Uint8Array {
  return encoder.encode(
    JSON.stringify({ voters: conf.voters, learners: conf.learners, context: conf.context }),
  );
}

/** Decodes {@linkcode encodeConfState}'s bytes; empty bytes are the empty membership. */
export function decodeConfState(bytes: Uint8Array): ConfState {
  if (bytes.length === 0) return EMPTY_CONF;
  const value: unknown = JSON.parse(decoder.decode(bytes));
  if (!isConfState(value)) {
    throw new Error(
      `Invalid membership ${
        decoder.decode(bytes).slice(0, 80)
      }: expected {voters, learners, context}`,
    );
  }
  return { voters: value.voters, learners: value.learners, context: value.context };
}

function isConfState(value: unknown): value is ConfState {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  const strings = (a: unknown) => Array.isArray(a) && a.every((x) => typeof x === "string");
  const context = v.context;
  return strings(v.voters) && strings(v.learners) && typeof context === "object" &&
    context !== null && Object.values(context).every((x) => typeof x === "string");
}

/** True when `node` is a voter of `conf`. */
export function isVoter(conf: ConfState, node: NodeId): boolean {
  return conf.voters.includes(node);
}

/** True when `node` is a voter or a learner of `conf`. */
export function isMember(conf: ConfState, node: NodeId): boolean {
  return conf.voters.includes(node) || conf.learners.includes(node);
}

/**
 * Returns the membership after `change`, or an error sentence when the change does not
 * apply (adding a member, promoting a non-learner, removing a non-member).
 */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfState | string {
  const { node } = change;
  if (node === "") return "Invalid membership change: expected a node id";
  switch (change.type) {
    case "add": {
      if (isMember(conf, node)) return `Invalid membership change: ${node} is already a member`;
      const context = change.context === undefined
        ? conf.context
        : { ...conf.context, [node]: change.context };
      return { voters: conf.voters, learners: [...conf.learners, node], context };
    }
    case "promote": {
      if (!conf.learners.includes(node)) {
        return `Invalid membership change: ${node} is not a learner`;
      }
      return {
        voters: [...conf.voters, node],
        learners: conf.learners.filter((id) => id !== node),
        context: conf.context,
      };
    }
    case "remove": {
      if (!isMember(conf, node)) return `Invalid membership change: ${node} is not a member`;
      const context = { ...conf.context };
      delete context[node];
      return {
        voters: conf.voters.filter((id) => id !== node),
        learners: conf.learners.filter((id) => id !== node),
        context,
      };
    }
  }
}
