/**
 * The pure Raft core: the {@linkcode Raft} state machine, its types and the membership codec.
 *
 * @module
 */
export { Raft } from "./raft.ts";
export * from "./types.ts";
export {
  applyConfChange,
  decodeConfState,
  EMPTY_CONF,
  encodeConfState,
  isMember,
  isVoter,
} from "./conf_state.ts";
