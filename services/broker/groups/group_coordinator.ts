/**
 * The group coordinator of the single-node broker: owns every {@linkcode ConsumerGroup},
 * drives their clocks with one sweep timer (session and rebalance timeouts), validates
 * offset commits against group generations and stores offsets in the
 * {@linkcode OffsetStore}.
 *
 * @module
 */
import { getLogger } from "@trading/shared/log";
import { ErrorCode } from "../protocol/error_codes.ts";
import type {
  DescribedGroup,
  JoinGroupResponse,
  SyncGroupRequest,
  SyncGroupResponse,
} from "../protocol/types.ts";
import type { CommittedOffset, OffsetStore } from "../storage/offset_store.ts";
import { ConsumerGroup, type GroupSettings, type JoinInput } from "./consumer_group.ts";

const log = getLogger(["broker", "groups"]);

/** How often session and rebalance timeouts are checked. */
const SWEEP_INTERVAL_MS = 100;

/** The coordinator's settings: its groups' and how vacant groups and their offsets expire. */
export interface CoordinatorSettings extends GroupSettings {
  /**
   * How often vacant groups are removed and expired offsets deleted, ms (Kafka's
   * `offsets.retention.check.interval.ms`). Default 600000.
   */
  groupCleanupIntervalMs?: number;
  /**
   * How long a vacant group's committed offsets are kept, ms, from the later of the moment
   * it became vacant and the commit (Kafka's `offsets.retention.minutes`, KIP-211); -1 keeps
   * them until DeleteGroups or OffsetDelete. Default 604800000 (7 days).
   */
  offsetsRetentionMs?: number;
}

/** All consumer groups of the broker. */
export class GroupCoordinator {
  private readonly groups = new Map<string, ConsumerGroup>();
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly cleanupTimer: ReturnType<typeof setInterval>;
  /** When each vacant group (or group known only by offsets) was first seen vacant. */
  private readonly vacantSince = new Map<string, number>();
  /** Offset groups loaded on start count as vacant from then (their past is not stored). */
  private readonly startedAt: number;
  private cleaning: Promise<void> | undefined;
  /** Rebalances completed (generations started), for metrics. */
  rebalances = 0;
  /** Vacant groups removed and offsets expired since start, for metrics and tests. */
  readonly expired = { groups: 0, offsets: 0 };

  constructor(
    private readonly settings: CoordinatorSettings,
    readonly offsets: OffsetStore,
    private readonly clock: () => number = Date.now,
  ) {
    this.startedAt = clock();
    this.timer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.cleanupTimer = setInterval(() => {
      this.cleanUp().catch((error) => {
        log.error("Group cleanup failed: {reason}", { reason: String(error) });
      });
    }, settings.groupCleanupIntervalMs ?? 600_000);
  }

  /**
   * Removes vacant groups that have no committed offsets left, after deleting the offsets of
   * vacant groups older than `offsetsRetentionMs`, as Kafka's GroupMetadataManager
   * cleanupGroupMetadata: a group with members keeps every offset. Runs on its timer; tests
   * call it with an injected clock. Resolves once the deletions are durable.
   */
  cleanUp(): Promise<void> {
    this.cleaning ??= this.cleanUpOnce().finally(() => (this.cleaning = undefined));
    return this.cleaning;
  }

  private async cleanUpOnce(): Promise<void> {
    const now = this.clock();
    const retentionMs = this.settings.offsetsRetentionMs ?? 604_800_000;
    const ids = new Set([...this.groups.keys(), ...this.offsets.groupIds()]);
    const deletions: Promise<void>[] = [];
    for (const groupId of ids) {
      const group = this.groups.get(groupId);
      if (group !== undefined && !group.vacant) continue;
      if (retentionMs >= 0) {
        const since = this.vacantSince.get(groupId) ?? this.startedAt;
        const expired = this.offsets.list(groupId).filter(([, , c]) =>
          Math.max(since, c.commitTimestamp) + retentionMs <= now
        ).map(([topic, partition]) => ({ topic, partition }));
        if (expired.length > 0) {
          this.expired.offsets += expired.length;
          log.info("Group {group}: {count} committed offsets expired (vacant since {since})", {
            group: groupId,
            count: expired.length,
            since: new Date(since).toISOString(),
          });
          // Applied to the store at once, durable when the promise resolves.
          deletions.push(this.offsets.deleteOffsets(groupId, expired));
        }
      }
      if (this.offsets.list(groupId).length > 0) continue;
      if (group !== undefined) {
        this.groups.delete(groupId);
        this.expired.groups++;
      }
      this.vacantSince.delete(groupId);
    }
    await Promise.all(deletions);
  }

  private group(groupId: string): ConsumerGroup {
    let group = this.groups.get(groupId);
    if (group === undefined) {
      group = new ConsumerGroup(groupId, this.settings);
      this.groups.set(groupId, group);
    }
    return group;
  }

  private report(group: ConsumerGroup): void {
    for (const event of group.drainEvents()) {
      if (event.kind === "generation") this.rebalances++;
      const level = event.kind === "member-evicted" ? "warn" : "info";
      log[level]("Group {group}: {kind} {detail}", {
        group: group.groupId,
        kind: event.kind,
        detail: event.detail,
      });
    }
  }

  /**
   * Expires the group's sessions that are past their timeout now, before an admin request
   * looks at it: Kafka expires a session exactly at its deadline, the sweep up to
   * SWEEP_INTERVAL_MS later (librdkafka 0081_admin deletes groups of closed static members
   * right after their session timeout).
   */
  private expireSessions(group: ConsumerGroup | undefined): void {
    if (group === undefined) return;
    group.tick(this.clock());
    this.report(group);
  }

  private sweep(): void {
    const now = this.clock();
    for (const group of this.groups.values()) {
      group.tick(now);
      this.report(group);
      this.noteVacancy(group, now);
    }
  }

  private noteVacancy(group: ConsumerGroup, now: number): void {
    if (!group.vacant) this.vacantSince.delete(group.groupId);
    else if (!this.vacantSince.has(group.groupId)) this.vacantSince.set(group.groupId, now);
  }

  /** JoinGroup: resolves when the member's join completes (or fails). */
  join(groupId: string, input: JoinInput): Promise<JoinGroupResponse> {
    if (groupId === "") {
      return Promise.resolve({
        throttleTimeMs: 0,
        errorCode: ErrorCode.INVALID_GROUP_ID,
        generationId: -1,
        protocolType: null,
        protocolName: null,
        leader: "",
        memberId: input.request.memberId,
        members: [],
      });
    }
    const created = !this.groups.has(groupId);
    const group = this.group(groupId);
    const answer = new Promise<JoinGroupResponse>((resolve) =>
      group.join(input, this.clock(), resolve)
    );
    this.report(group);
    // A join refused at once (a session timeout out of bounds, no protocol, an unknown member
    // id) leaves no group behind, as Kafka validates before getOrMaybeCreateGroup.
    if (created && group.vacant) this.groups.delete(groupId);
    else this.noteVacancy(group, this.clock());
    return answer;
  }

  /** SyncGroup: resolves when the leader's assignment is known (or on error). */
  sync(request: SyncGroupRequest): Promise<SyncGroupResponse> {
    const group = this.groups.get(request.groupId);
    if (group === undefined) {
      return Promise.resolve({
        throttleTimeMs: 0,
        errorCode: ErrorCode.UNKNOWN_MEMBER_ID,
        protocolType: null,
        protocolName: null,
        assignment: new Uint8Array(0),
      });
    }
    const answer = new Promise<SyncGroupResponse>((resolve) =>
      group.sync(request, this.clock(), resolve)
    );
    this.report(group);
    return answer;
  }

  /** Heartbeat: returns the error code. */
  heartbeat(
    groupId: string,
    memberId: string,
    generationId: number,
    instanceId: string | null = null,
  ): number {
    const group = this.groups.get(groupId);
    if (group === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    return group.heartbeat(memberId, generationId, this.clock(), instanceId);
  }

  /** LeaveGroup for one member: returns the error code. */
  leave(groupId: string, memberId: string, instanceId: string | null = null): number {
    const group = this.groups.get(groupId);
    if (group === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    const code = group.leave(memberId, this.clock(), instanceId);
    this.report(group);
    return code;
  }

  /**
   * Checks that a commit may be applied: a member of the current generation, or a
   * standalone commit (generation -1, no member id) to a group without members. A standalone
   * commit into a group with members gets UNKNOWN_MEMBER_ID, as Kafka answers (its
   * GroupCoordinator.validateOffsetCommit: the group is not only storing offsets), which is what
   * librdkafka's AlterConsumerGroupOffsets test (0081_admin) expects.
   */
  validateCommit(
    groupId: string,
    memberId: string,
    generationId: number,
    instanceId: string | null = null,
  ): number {
    if (groupId === "") return ErrorCode.INVALID_GROUP_ID;
    const group = this.groups.get(groupId);
    if (generationId < 0 && memberId === "") {
      return group === undefined || group.members.size === 0
        ? ErrorCode.NONE
        : ErrorCode.UNKNOWN_MEMBER_ID;
    }
    if (group === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    const problem = group.instanceProblem(memberId, instanceId);
    if (problem !== ErrorCode.NONE) return problem;
    if (generationId !== group.generationId) return ErrorCode.ILLEGAL_GENERATION;
    if (group.state === "CompletingRebalance") return ErrorCode.REBALANCE_IN_PROGRESS;
    // A commit is also a sign of life (Kafka treats it as a heartbeat).
    group.heartbeat(memberId, generationId, this.clock());
    return ErrorCode.NONE;
  }

  /** Stores committed offsets durably. */
  commit(
    groupId: string,
    entries: { topic: string; partition: number; offset: CommittedOffset }[],
  ): Promise<void> {
    return this.offsets.commit(groupId, entries);
  }

  /**
   * Deletes a group and its committed offsets, as Kafka's DeleteGroups: NON_EMPTY_GROUP while
   * it has members, GROUP_ID_NOT_FOUND when neither the group nor offsets of it exist.
   */
  async deleteGroup(groupId: string): Promise<number> {
    if (groupId === "") return ErrorCode.INVALID_GROUP_ID;
    const group = this.groups.get(groupId);
    this.expireSessions(group);
    if (group !== undefined && group.members.size > 0) return ErrorCode.NON_EMPTY_GROUP;
    if (group === undefined && !this.offsets.groupIds().includes(groupId)) {
      return ErrorCode.GROUP_ID_NOT_FOUND;
    }
    this.groups.delete(groupId);
    await this.offsets.deleteGroup(groupId);
    return ErrorCode.NONE;
  }

  /**
   * Deletes committed offsets of a group, as Kafka's OffsetDelete (KIP-496): the group error is
   * GROUP_ID_NOT_FOUND for an unknown group and NON_EMPTY_GROUP for an active group that is not
   * a consumer group; a partition of a topic that a member subscribes to keeps its offset and
   * gets GROUP_SUBSCRIBED_TO_TOPIC.
   */
  async deleteOffsets(
    groupId: string,
    partitions: { topic: string; partition: number }[],
  ): Promise<{ errorCode: number; partitionErrors: number[] }> {
    const refuse = (errorCode: number) => ({ errorCode, partitionErrors: [] });
    if (groupId === "") return refuse(ErrorCode.INVALID_GROUP_ID);
    const group = this.groups.get(groupId);
    this.expireSessions(group);
    if (group === undefined && !this.offsets.groupIds().includes(groupId)) {
      return refuse(ErrorCode.GROUP_ID_NOT_FOUND);
    }
    const subscribed = new Set<string>();
    if (group !== undefined && group.members.size > 0) {
      if (group.protocolType !== "consumer") return refuse(ErrorCode.NON_EMPTY_GROUP);
      for (const member of group.describe().members) {
        for (const topic of subscribedTopics(member.memberMetadata)) subscribed.add(topic);
      }
    }
    const deletable = partitions.filter((p) => !subscribed.has(p.topic));
    await this.offsets.deleteOffsets(groupId, deletable);
    return {
      errorCode: ErrorCode.NONE,
      partitionErrors: partitions.map((p) =>
        subscribed.has(p.topic) ? ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC : ErrorCode.NONE
      ),
    };
  }

  /** Describes a group; an unknown group is reported as Dead, as Kafka does. */
  describe(groupId: string): DescribedGroup {
    const group = this.groups.get(groupId);
    this.expireSessions(group);
    if (group !== undefined) return group.describe();
    const known = this.offsets.groupIds().includes(groupId);
    return {
      errorCode: ErrorCode.NONE,
      groupId,
      groupState: known ? "Empty" : "Dead",
      protocolType: known ? "consumer" : "",
      protocolData: "",
      members: [],
    };
  }

  /** Every group: live ones and those known only by committed offsets. */
  list(): { groupId: string; protocolType: string; groupState: string }[] {
    const out = new Map<string, { groupId: string; protocolType: string; groupState: string }>();
    for (const groupId of this.offsets.groupIds()) {
      out.set(groupId, { groupId, protocolType: "consumer", groupState: "Empty" });
    }
    for (const group of this.groups.values()) {
      out.set(group.groupId, {
        groupId: group.groupId,
        protocolType: group.protocolType ?? "consumer",
        groupState: group.state,
      });
    }
    return [...out.values()];
  }

  /** Stops the sweep timer and answers pending joins and syncs. */
  close(): void {
    clearInterval(this.timer);
    clearInterval(this.cleanupTimer);
    for (const group of this.groups.values()) {
      group.abortPending(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    }
  }
}

/**
 * The topics of a consumer protocol Subscription (version int16, topics as an int32 count of
 * int16-length strings, then user data we do not need); [] for bytes that are not one.
 */
export function subscribedTopics(metadata: Uint8Array): string[] {
  const view = new DataView(metadata.buffer, metadata.byteOffset, metadata.byteLength);
  if (metadata.length < 6) return [];
  const count = view.getInt32(2);
  const topics: string[] = [];
  let at = 6;
  for (let i = 0; i < count; i++) {
    if (at + 2 > metadata.length) return [];
    const length = view.getInt16(at);
    at += 2;
    if (length < 0 || at + length > metadata.length) return [];
    topics.push(new TextDecoder().decode(metadata.subarray(at, at + length)));
    at += length;
  }
  return topics;
}
