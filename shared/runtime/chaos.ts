/**
 * Chaos, the parts every chaos tool shares: the profile format (`CHAOS_PROFILE`, the Raft
 * admin's `SetChaos` and the supervisor's `chaos` command all read it here) and the seeded
 * generator that makes a fault schedule reproducible from its seed.
 *
 * Where the rest of chaos lives: the Raft transport's fault layer in
 * services/raft-node/transport/chaos.ts, the supervisor's chaos commands and fault tracker in
 * supervisor/, and the scenarios, nemesis and soak schedule in chaos/.
 *
 * @module
 */
import { SeededRandom } from "./seeded_random.ts";

/** A parsed chaos profile, as written in `CHAOS_PROFILE` ("drop-pct=30,delay=50-250"). */
export interface ChaosProfile {
  dropPct: number;
  delayMsMin: number;
  delayMsMax: number;
}

/**
 * Parses a chaos profile such as `"drop-pct=30,delay=50-250"`; `"off"` or `""` is no fault.
 * Throws an Error naming the bad part.
 */
export function parseChaosProfile(profile: string): ChaosProfile {
  const result: ChaosProfile = { dropPct: 0, delayMsMin: 0, delayMsMax: 0 };
  const trimmed = profile.trim();
  if (trimmed === "" || trimmed === "off") return result;
  for (const part of trimmed.split(",")) {
    const [key, value] = part.split("=").map((s) => s.trim());
    if (key === "drop-pct" && value !== undefined && /^\d+$/.test(value) && Number(value) <= 100) {
      result.dropPct = Number(value);
    } else if (key === "delay" && value !== undefined && /^\d+(-\d+)?$/.test(value)) {
      const [min, max] = value.split("-").map(Number);
      result.delayMsMin = min!;
      result.delayMsMax = max ?? min!;
      if (result.delayMsMax < result.delayMsMin) {
        throw new Error(`Invalid chaos delay "${value}": expected min-max with min <= max`);
      }
    } else {
      throw new Error(
        `Invalid chaos profile part "${part}": expected drop-pct=<0-100> or delay=<ms>[-<ms>]`,
      );
    }
  }
  return result;
}

/** The word of a runtime profile that turns exit-on-leader on (not part of `CHAOS_PROFILE`). */
export const EXIT_ON_LEADER_WORD = "exit-on-leader";

/** A runtime profile: a {@linkcode ChaosProfile} and whether a node exits on becoming leader. */
export interface RuntimeChaosProfile extends ChaosProfile {
  exitOnLeader: boolean;
}

/**
 * Parses a profile as the Raft admin's `SetChaos` and the supervisor's `chaos` command take
 * it: a `CHAOS_PROFILE` (`drop-pct=30,delay=50-250`, `off` or empty) with the optional extra
 * word `exit-on-leader`. Throws an Error naming the bad part.
 */
export function parseRuntimeChaosProfile(profile: string): RuntimeChaosProfile {
  const parts = profile.split(",").map((p) => p.trim()).filter((p) => p !== "");
  const exitOnLeader = parts.includes(EXIT_ON_LEADER_WORD);
  const rest = parts.filter((p) => p !== EXIT_ON_LEADER_WORD).join(",");
  return { ...parseChaosProfile(rest), exitOnLeader };
}

/**
 * Returns the generator of a chaos schedule's seed (the one generator, {@linkcode SeededRandom}).
 * The seed is mixed with 0x9e3779b9 first, as the schedules always did, so that a seed printed
 * by an earlier run replays the same faults at the same moments.
 */
export function chaosRandom(seed: number): SeededRandom {
  return new SeededRandom(((seed >>> 0) ^ 0x9e3779b9) >>> 0);
}
