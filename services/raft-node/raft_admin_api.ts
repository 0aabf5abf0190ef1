/**
 * The admin API of a raft-node on PORT_GRPC (raft.proto, service `RaftAdmin`): runtime chaos
 * control for the supervisor and the chaos suites.
 *
 * - `SetChaos{enabled, profile, target_node_id, seed}` replaces the settings. `profile` is a
 *   CHAOS_PROFILE (`drop-pct=30,delay=50-250`, `off`) that may also contain the word
 *   `exit-on-leader`: present, the node exits with code 3 once it becomes leader; absent,
 *   that switch is lifted (so `SetChaos{enabled:false}` lifts it too). `seed` 0 keeps the
 *   current seed. The random sequence restarts from the seed on every SetChaos.
 * - `Partition{peers}` cuts this node off from `peers` (all when empty) in both directions.
 * - `Heal` removes every partition and turns drops and delays off.
 * - `GetChaos` returns the state with the dropped/delayed counters.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import type { ChaosState, RaftAdminServer } from "@trading/proto/raft";
import { getLogger } from "@trading/shared/log";
import { errorMessage } from "@trading/shared/retry";
import { parseRuntimeChaosProfile } from "@trading/shared/chaos";
import { type Chaos, formatProfile } from "./transport/chaos.ts";

/** The chaos state as the admin API reports it. */
export function chaosState(chaos: Chaos): ChaosState {
  const s = chaos.settings;
  return {
    enabled: s.enabled,
    profile: formatProfile(s),
    dropPct: s.dropPct,
    delayMsMin: s.delayMsMin,
    delayMsMax: s.delayMsMax,
    targetNodeId: s.targetNodeId,
    partitionedFrom: chaos.partitionedFrom,
    seed: s.seed,
    dropped: chaos.dropped,
    delayed: chaos.delayed,
  };
}

/**
 * The `RaftAdmin` service over a node's chaos layer; `chaos()` returns undefined while the
 * node is starting (calls then answer UNAVAILABLE).
 */
export function raftAdminImplementation(chaos: () => Chaos | undefined): RaftAdminServer {
  const log = getLogger("raft.chaos");
  const withChaos = (
    callback: grpc.sendUnaryData<ChaosState>,
    run: (chaos: Chaos) => void,
  ) => {
    const c = chaos();
    if (!c) {
      callback({ code: grpc.status.UNAVAILABLE, details: "Raft node is starting" });
      return;
    }
    run(c);
    callback(null, chaosState(c));
  };
  return {
    setChaos: (call, callback) => {
      const { enabled, profile, targetNodeId, seed } = call.request;
      let parsed;
      try {
        parsed = parseRuntimeChaosProfile(profile);
      } catch (error) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: errorMessage(error) });
        return;
      }
      withChaos(callback, (c) => {
        c.configure({
          enabled,
          dropPct: parsed.dropPct,
          delayMsMin: parsed.delayMsMin,
          delayMsMax: parsed.delayMsMax,
          targetNodeId,
          seed: seed === 0 ? c.settings.seed : seed,
          exitOnLeader: parsed.exitOnLeader,
        });
        log.info("chaos set: {profile} (enabled {enabled}, target {target}, seed {seed})", {
          profile: formatProfile(c.settings),
          enabled,
          target: targetNodeId || "all",
          seed: c.settings.seed,
        });
      });
    },
    partition: (call, callback) => {
      withChaos(callback, (c) => {
        c.partition(call.request.peers);
        log.info("partitioned from {peers}", {
          peers: call.request.peers.length === 0 ? "all peers" : call.request.peers.join(","),
        });
      });
    },
    heal: (_call, callback) => {
      withChaos(callback, (c) => {
        c.heal();
        log.info("healed: partitions removed, chaos off");
      });
    },
    getChaos: (_call, callback) => withChaos(callback, () => {}),
  };
}
