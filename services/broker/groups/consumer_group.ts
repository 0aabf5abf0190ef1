/**
 * One consumer group and the classic rebalance protocol of Kafka's GroupCoordinator:
 * JoinGroup gathers members (PreparingRebalance) until every known member has rejoined or
 * the rebalance timeout passes, then a new generation starts (CompletingRebalance) with a
 * leader who receives every member's metadata; the leader's SyncGroup hands out the
 * assignment (Stable). Members that stop heartbeating for their session timeout are evicted,
 * which starts a rebalance.
 *
 * Static members (KIP-345) carry a `group.instance.id`: one that rejoins without its member id
 * (a restarted consumer) takes over its previous member, assignment included, without a
 * rebalance when the group is Stable; a request that names the instance with another member id
 * is fenced (FENCED_INSTANCE_ID), as Kafka's `GroupCoordinator.updateStaticMemberAndRebalance`.
 *
 * Pure state: the clock is passed in (`now`), and answers go to callbacks, so tests can drive
 * it step by step. The {@linkcode GroupCoordinator} owns the timers.
 *
 * Invariants: `state === "Stable"` implies no member awaits a join or sync answer and the
 * leader is a member; a member awaiting a join answer exists only in PreparingRebalance.
 *
 * @module
 */
import { ErrorCode } from "../protocol/error_codes.ts";
import type {
  DescribedGroup,
  JoinGroupRequest,
  JoinGroupResponse,
  SyncGroupRequest,
  SyncGroupResponse,
} from "../protocol/types.ts";

/** The states of a classic consumer group, as Kafka names them. */
export type GroupState = "Empty" | "PreparingRebalance" | "CompletingRebalance" | "Stable" | "Dead";

/** Answer callback of a pending JoinGroup. */
export type JoinCallback = (response: JoinGroupResponse) => void;
/** Answer callback of a pending SyncGroup. */
export type SyncCallback = (response: SyncGroupResponse) => void;

/** A member of a group. */
export interface Member {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: { name: string; metadata: Uint8Array }[];
  assignment: Uint8Array;
  lastHeartbeat: number;
  awaitingJoin: JoinCallback | undefined;
  awaitingSync: SyncCallback | undefined;
}

/** Who is joining: the request plus connection facts. */
export interface JoinInput {
  request: JoinGroupRequest;
  clientId: string;
  clientHost: string;
  /** JoinGroup v4+: a member without id first gets one with MEMBER_ID_REQUIRED (KIP-394). */
  requireKnownMemberId: boolean;
}

/** Settings of the coordinator that shape rebalances. */
export interface GroupSettings {
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
  /** Wait this long after the first member joins an empty group before completing. */
  initialRebalanceDelayMs: number;
}

/** What happened in a step, for logs and metrics. */
export interface GroupEvent {
  kind: "rebalance-started" | "generation" | "member-evicted" | "member-left" | "member-joined";
  detail: string;
}

const EMPTY = new Uint8Array(0);

/** A consumer group's membership and rebalance state. */
export class ConsumerGroup {
  readonly groupId: string;
  state: GroupState = "Empty";
  generationId = 0;
  protocolType: string | null = null;
  protocolName: string | null = null;
  leaderId: string | null = null;
  readonly members = new Map<string, Member>();
  /** Member ids handed out with MEMBER_ID_REQUIRED, not yet joined: id -> expiry time. */
  private readonly pendingMemberIds = new Map<string, number>();
  /** Static members: group.instance.id -> the member id that holds it now. */
  private readonly staticMembers = new Map<string, string>();
  private rebalanceDeadline = 0;
  private joinNotBefore = 0;
  private nextMemberSeq = 0;
  /** Events since the last {@linkcode drainEvents}. */
  private events: GroupEvent[] = [];

  constructor(groupId: string, private readonly settings: GroupSettings) {
    this.groupId = groupId;
  }

  /**
   * True when the group holds nobody: Empty, no member, no member id handed out with
   * MEMBER_ID_REQUIRED and still waited for. Such a group is state only its offsets need.
   */
  get vacant(): boolean {
    return this.state === "Empty" && this.members.size === 0 && this.pendingMemberIds.size === 0;
  }

  /** Returns and clears the events recorded since the last call. */
  drainEvents(): GroupEvent[] {
    const events = this.events;
    this.events = [];
    return events;
  }

  private newMemberId(clientId: string): string {
    return `${clientId || "member"}-${crypto.randomUUID()}-${this.nextMemberSeq++}`;
  }

  private joinError(memberId: string, errorCode: number): JoinGroupResponse {
    return {
      throttleTimeMs: 0,
      errorCode,
      generationId: -1,
      protocolType: null,
      protocolName: null,
      leader: "",
      memberId,
      members: [],
    };
  }

  /** Handles a JoinGroup; `reply` is called now or when the rebalance completes. */
  join(input: JoinInput, now: number, reply: JoinCallback): void {
    const { request } = input;
    if (
      request.sessionTimeoutMs < this.settings.minSessionTimeoutMs ||
      request.sessionTimeoutMs > this.settings.maxSessionTimeoutMs
    ) {
      return reply(this.joinError(request.memberId, ErrorCode.INVALID_SESSION_TIMEOUT));
    }
    if (
      request.protocols.length === 0 || request.protocolType === "" ||
      (this.members.size > 0 &&
        (request.protocolType !== this.protocolType ||
          !request.protocols.some((p) => this.supportedByAll(p.name, request.memberId))))
    ) {
      return reply(this.joinError(request.memberId, ErrorCode.INCONSISTENT_GROUP_PROTOCOL));
    }
    let memberId = request.memberId;
    const instanceId = request.groupInstanceId;
    if (memberId === "") {
      memberId = this.newMemberId(input.clientId);
      if (instanceId !== null) {
        // A static member needs no MEMBER_ID_REQUIRED round trip (doStaticNewMemberJoinGroup).
        const previous = this.staticMembers.get(instanceId);
        if (previous !== undefined && this.members.has(previous)) {
          return this.replaceStaticMember(previous, memberId, input, now, reply);
        }
      } else if (input.requireKnownMemberId) {
        this.pendingMemberIds.set(memberId, now + request.sessionTimeoutMs);
        return reply(this.joinError(memberId, ErrorCode.MEMBER_ID_REQUIRED));
      }
    } else if (instanceId !== null) {
      const problem = this.instanceProblem(memberId, instanceId);
      if (problem !== ErrorCode.NONE) return reply(this.joinError(memberId, problem));
    } else if (!this.members.has(memberId) && !this.pendingMemberIds.has(memberId)) {
      return reply(this.joinError(memberId, ErrorCode.UNKNOWN_MEMBER_ID));
    }
    this.pendingMemberIds.delete(memberId);

    const existing = this.members.get(memberId);
    const rebalanceTimeoutMs = request.rebalanceTimeoutMs > 0
      ? request.rebalanceTimeoutMs
      : request.sessionTimeoutMs; // JoinGroup v0 has no rebalance timeout: Kafka uses the session's.
    if (existing === undefined) {
      const member: Member = {
        memberId,
        groupInstanceId: request.groupInstanceId,
        clientId: input.clientId,
        clientHost: input.clientHost,
        sessionTimeoutMs: request.sessionTimeoutMs,
        rebalanceTimeoutMs,
        protocolType: request.protocolType,
        protocols: request.protocols.map((p) => ({ name: p.name, metadata: p.metadata.slice() })),
        assignment: EMPTY,
        lastHeartbeat: now,
        awaitingJoin: reply,
        awaitingSync: undefined,
      };
      this.members.set(memberId, member);
      if (instanceId !== null) this.staticMembers.set(instanceId, memberId);
      if (this.protocolType === null) this.protocolType = request.protocolType;
      this.events.push({ kind: "member-joined", detail: memberId });
      this.prepareRebalance(now, `member ${memberId} joined`);
      this.maybeCompleteJoin(now);
      return;
    }

    const changed = !sameProtocols(existing.protocols, request.protocols);
    existing.sessionTimeoutMs = request.sessionTimeoutMs;
    existing.rebalanceTimeoutMs = rebalanceTimeoutMs;
    existing.protocols = request.protocols.map((p) => ({
      name: p.name,
      metadata: p.metadata.slice(),
    }));
    existing.lastHeartbeat = now;
    if (existing.awaitingJoin !== undefined && existing.awaitingJoin !== reply) {
      // A second join from the same member replaces the first (the client gave up on it).
      existing.awaitingJoin(this.joinError(memberId, ErrorCode.REBALANCE_IN_PROGRESS));
    }
    switch (this.state) {
      case "PreparingRebalance":
        existing.awaitingJoin = reply;
        this.maybeCompleteJoin(now);
        return;
      case "CompletingRebalance":
      case "Stable":
        if (!changed && (this.state === "CompletingRebalance" || memberId !== this.leaderId)) {
          // A follower's rejoin without changes: it gets the current generation again.
          return reply(this.joinResponse(existing));
        }
        existing.awaitingJoin = reply;
        this.prepareRebalance(now, `member ${memberId} rejoined with new metadata`);
        this.maybeCompleteJoin(now);
        return;
      default:
        existing.awaitingJoin = reply;
        this.prepareRebalance(now, `member ${memberId} joined`);
        this.maybeCompleteJoin(now);
    }
  }

  /**
   * Kafka's `validateCurrentMember` for a request that names a group instance: NONE when
   * `instanceId` is held by `memberId`, FENCED_INSTANCE_ID when another member holds it,
   * UNKNOWN_MEMBER_ID when nobody does. A null instance id checks membership only.
   */
  instanceProblem(memberId: string, instanceId: string | null): number {
    if (instanceId === null) {
      return this.members.has(memberId) ? ErrorCode.NONE : ErrorCode.UNKNOWN_MEMBER_ID;
    }
    const current = this.staticMembers.get(instanceId);
    if (current === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    return current === memberId ? ErrorCode.NONE : ErrorCode.FENCED_INSTANCE_ID;
  }

  /**
   * A known static member rejoined with a new member id: the old one is fenced, the new one
   * takes its place and assignment. In a Stable group whose protocol choice stays, the member
   * gets the current generation back with no rebalance; the answer names the old leader id so
   * that a replaced leader does not compute a new assignment the group would not hand out
   * (JoinGroup before v9). Otherwise a rebalance runs, as in Kafka.
   */
  private replaceStaticMember(
    oldMemberId: string,
    newMemberId: string,
    input: JoinInput,
    now: number,
    reply: JoinCallback,
  ): void {
    const { request } = input;
    const old = this.members.get(oldMemberId)!;
    old.awaitingJoin?.(this.joinError(oldMemberId, ErrorCode.FENCED_INSTANCE_ID));
    old.awaitingSync?.(syncError(ErrorCode.FENCED_INSTANCE_ID));
    const currentLeader = this.leaderId;
    this.members.delete(oldMemberId);
    const member: Member = {
      ...old,
      memberId: newMemberId,
      clientId: input.clientId,
      clientHost: input.clientHost,
      sessionTimeoutMs: request.sessionTimeoutMs,
      rebalanceTimeoutMs: request.rebalanceTimeoutMs > 0
        ? request.rebalanceTimeoutMs
        : request.sessionTimeoutMs,
      protocols: request.protocols.map((p) => ({ name: p.name, metadata: p.metadata.slice() })),
      lastHeartbeat: now,
      awaitingJoin: undefined,
      awaitingSync: undefined,
    };
    this.members.set(newMemberId, member);
    this.staticMembers.set(request.groupInstanceId!, newMemberId);
    if (this.leaderId === oldMemberId) this.leaderId = newMemberId;
    this.events.push({
      kind: "member-joined",
      detail: `${newMemberId} replaced static member ${oldMemberId} (${request.groupInstanceId})`,
    });
    switch (this.state) {
      case "Stable":
        if (this.selectProtocol() === this.protocolName) {
          return reply({ ...this.joinResponse(member), leader: currentLeader ?? "", members: [] });
        }
        member.awaitingJoin = reply;
        this.prepareRebalance(now, `static member ${newMemberId} changed the group's protocol`);
        break;
      case "CompletingRebalance":
        // The leader may already be assigning with the old member id: start over.
        member.awaitingJoin = reply;
        this.prepareRebalance(now, `static member ${newMemberId} replaced ${oldMemberId}`);
        break;
      default:
        member.awaitingJoin = reply;
    }
    this.maybeCompleteJoin(now);
  }

  private supportedByAll(protocol: string, except: string): boolean {
    for (const m of this.members.values()) {
      if (m.memberId === except) continue;
      if (!m.protocols.some((p) => p.name === protocol)) return false;
    }
    return true;
  }

  private prepareRebalance(now: number, reason: string): void {
    if (this.state === "PreparingRebalance") return;
    if (this.state === "CompletingRebalance") {
      for (const m of this.members.values()) {
        if (m.awaitingSync !== undefined) {
          m.awaitingSync(syncError(ErrorCode.REBALANCE_IN_PROGRESS));
          m.awaitingSync = undefined;
        }
      }
    }
    const wasEmpty = this.state === "Empty";
    this.state = "PreparingRebalance";
    let timeout = 0;
    for (const m of this.members.values()) timeout = Math.max(timeout, m.rebalanceTimeoutMs);
    this.rebalanceDeadline = now + timeout;
    this.joinNotBefore = wasEmpty ? now + this.settings.initialRebalanceDelayMs : now;
    this.events.push({ kind: "rebalance-started", detail: reason });
  }

  private maybeCompleteJoin(now: number): void {
    if (this.state !== "PreparingRebalance") return;
    const allJoined = [...this.members.values()].every((m) => m.awaitingJoin !== undefined);
    if ((allJoined && now >= this.joinNotBefore) || now >= this.rebalanceDeadline) {
      this.completeJoin(now);
    }
  }

  private completeJoin(now: number): void {
    for (const m of [...this.members.values()]) {
      if (m.awaitingJoin === undefined) {
        this.members.delete(m.memberId);
        this.forgetStatic(m);
        this.events.push({
          kind: "member-evicted",
          detail: `${m.memberId} did not rejoin in time`,
        });
      }
    }
    this.generationId++;
    if (this.members.size === 0) {
      this.state = "Empty";
      this.protocolName = null;
      this.protocolType = null;
      this.leaderId = null;
      this.events.push({ kind: "generation", detail: `generation ${this.generationId} (empty)` });
      return;
    }
    this.protocolName = this.selectProtocol();
    if (this.leaderId === null || !this.members.has(this.leaderId)) {
      this.leaderId = this.members.keys().next().value!;
    }
    this.state = "CompletingRebalance";
    this.events.push({
      kind: "generation",
      detail:
        `generation ${this.generationId} with ${this.members.size} members, leader ${this.leaderId}`,
    });
    for (const m of this.members.values()) {
      const reply = m.awaitingJoin!;
      m.awaitingJoin = undefined;
      m.lastHeartbeat = now;
      m.assignment = EMPTY;
      reply(this.joinResponse(m));
    }
  }

  /** The protocol every member supports that most members list first (Kafka's vote). */
  private selectProtocol(): string {
    const members = [...this.members.values()];
    const candidates = members[0]!.protocols.map((p) => p.name).filter((name) =>
      members.every((m) => m.protocols.some((p) => p.name === name))
    );
    const votes = new Map<string, number>();
    for (const m of members) {
      const choice = m.protocols.find((p) => candidates.includes(p.name))?.name;
      if (choice !== undefined) votes.set(choice, (votes.get(choice) ?? 0) + 1);
    }
    let best = candidates[0]!;
    for (const c of candidates) if ((votes.get(c) ?? 0) > (votes.get(best) ?? 0)) best = c;
    return best;
  }

  private joinResponse(member: Member): JoinGroupResponse {
    const isLeader = member.memberId === this.leaderId;
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      generationId: this.generationId,
      protocolType: this.protocolType,
      protocolName: this.protocolName,
      leader: this.leaderId ?? "",
      memberId: member.memberId,
      members: isLeader
        ? [...this.members.values()].map((m) => ({
          memberId: m.memberId,
          groupInstanceId: m.groupInstanceId,
          metadata: m.protocols.find((p) => p.name === this.protocolName)?.metadata ?? EMPTY,
        }))
        : [],
    };
  }

  /** Handles a SyncGroup; `reply` is called now or when the leader's assignment arrives. */
  sync(request: SyncGroupRequest, now: number, reply: SyncCallback): void {
    const problem = this.instanceProblem(request.memberId, request.groupInstanceId);
    if (problem !== ErrorCode.NONE) return reply(syncError(problem));
    const member = this.members.get(request.memberId);
    if (member === undefined) return reply(syncError(ErrorCode.UNKNOWN_MEMBER_ID));
    if (request.generationId !== this.generationId) {
      return reply(syncError(ErrorCode.ILLEGAL_GENERATION));
    }
    if (
      (request.protocolType !== null && request.protocolType !== this.protocolType) ||
      (request.protocolName !== null && request.protocolName !== this.protocolName)
    ) {
      return reply(syncError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL));
    }
    member.lastHeartbeat = now;
    switch (this.state) {
      case "PreparingRebalance":
        return reply(syncError(ErrorCode.REBALANCE_IN_PROGRESS));
      case "Stable":
        return reply(this.syncResponse(member));
      case "CompletingRebalance": {
        if (member.awaitingSync !== undefined) {
          member.awaitingSync(syncError(ErrorCode.REBALANCE_IN_PROGRESS));
        }
        member.awaitingSync = reply;
        if (member.memberId !== this.leaderId) return;
        const assignments = new Map(request.assignments.map((a) => [a.memberId, a.assignment]));
        for (const m of this.members.values()) {
          m.assignment = assignments.get(m.memberId)?.slice() ?? EMPTY;
        }
        this.state = "Stable";
        for (const m of this.members.values()) {
          if (m.awaitingSync !== undefined) {
            const answer = m.awaitingSync;
            m.awaitingSync = undefined;
            answer(this.syncResponse(m));
          }
        }
        return;
      }
      default:
        return reply(syncError(ErrorCode.UNKNOWN_MEMBER_ID));
    }
  }

  private syncResponse(member: Member): SyncGroupResponse {
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      protocolType: this.protocolType,
      protocolName: this.protocolName,
      assignment: member.assignment,
    };
  }

  /** Handles a Heartbeat; returns the error code. */
  heartbeat(
    memberId: string,
    generationId: number,
    now: number,
    instanceId: string | null = null,
  ): number {
    const problem = this.instanceProblem(memberId, instanceId);
    if (problem !== ErrorCode.NONE) return problem;
    const member = this.members.get(memberId);
    if (member === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (generationId !== this.generationId) return ErrorCode.ILLEGAL_GENERATION;
    member.lastHeartbeat = now;
    if (this.state === "PreparingRebalance") return ErrorCode.REBALANCE_IN_PROGRESS;
    if (this.state === "Empty" || this.state === "Dead") return ErrorCode.UNKNOWN_MEMBER_ID;
    return ErrorCode.NONE;
  }

  /**
   * Removes a member that leaves; returns the error code. A static member may be named by its
   * instance id alone (member id ""), as an admin client removes one (KIP-345).
   */
  leave(memberId: string, now: number, instanceId: string | null = null): number {
    if (instanceId !== null) {
      const current = this.staticMembers.get(instanceId);
      if (current === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
      if (memberId !== "" && memberId !== current) return ErrorCode.FENCED_INSTANCE_ID;
      memberId = current;
    }
    const member = this.members.get(memberId);
    if (member === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    this.removeMember(member, now, "left");
    return ErrorCode.NONE;
  }

  private forgetStatic(member: Member): void {
    const instanceId = member.groupInstanceId;
    if (instanceId !== null && this.staticMembers.get(instanceId) === member.memberId) {
      this.staticMembers.delete(instanceId);
    }
  }

  private removeMember(member: Member, now: number, why: "left" | "evicted"): void {
    this.members.delete(member.memberId);
    this.forgetStatic(member);
    member.awaitingJoin?.(this.joinError(member.memberId, ErrorCode.UNKNOWN_MEMBER_ID));
    member.awaitingSync?.(syncError(ErrorCode.UNKNOWN_MEMBER_ID));
    member.awaitingJoin = undefined;
    member.awaitingSync = undefined;
    this.events.push({
      kind: why === "left" ? "member-left" : "member-evicted",
      detail: why === "left"
        ? member.memberId
        : `${member.memberId} missed its ${member.sessionTimeoutMs} ms session timeout`,
    });
    if (member.memberId === this.leaderId) this.leaderId = null;
    if (this.state === "Stable" || this.state === "CompletingRebalance") {
      this.prepareRebalance(now, `member ${member.memberId} ${why}`);
    }
    if (this.state === "PreparingRebalance") this.maybeCompleteJoin(now);
  }

  /**
   * Advances time: evicts members past their session timeout, drops stale pending member
   * ids, and completes a rebalance whose timeout or initial delay has passed.
   */
  tick(now: number): void {
    for (const [id, expiry] of this.pendingMemberIds) {
      if (now >= expiry) this.pendingMemberIds.delete(id);
    }
    for (const m of [...this.members.values()]) {
      // Members waiting in a join are bounded by the rebalance timeout instead.
      if (m.awaitingJoin === undefined && now - m.lastHeartbeat > m.sessionTimeoutMs) {
        this.removeMember(m, now, "evicted");
      }
    }
    this.maybeCompleteJoin(now);
  }

  /** Answers every pending join and sync with `errorCode` (coordinator shutting down). */
  abortPending(errorCode: number): void {
    for (const m of this.members.values()) {
      m.awaitingJoin?.(this.joinError(m.memberId, errorCode));
      m.awaitingSync?.(syncError(errorCode));
      m.awaitingJoin = undefined;
      m.awaitingSync = undefined;
    }
  }

  /** The DescribeGroups view of the group. */
  describe(): DescribedGroup {
    return {
      errorCode: ErrorCode.NONE,
      groupId: this.groupId,
      groupState: this.state,
      protocolType: this.protocolType ?? "",
      protocolData: this.state === "Stable" ? this.protocolName ?? "" : "",
      members: [...this.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        memberMetadata: m.protocols.find((p) => p.name === this.protocolName)?.metadata ?? EMPTY,
        memberAssignment: this.state === "Stable" ? m.assignment : EMPTY,
      })),
    };
  }
}

function syncError(errorCode: number): SyncGroupResponse {
  return {
    throttleTimeMs: 0,
    errorCode,
    protocolType: null,
    protocolName: null,
    assignment: EMPTY,
  };
}

function sameProtocols(
  a: { name: string; metadata: Uint8Array }[],
  b: { name: string; metadata: Uint8Array }[],
): boolean {
  if (a.length !== b.length) return false;
  return a.every((p, i) => p.name === b[i]!.name && bytesEqual(p.metadata, b[i]!.metadata));
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
