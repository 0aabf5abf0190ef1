/**
 * Cluster formation for a new node: call `Join` on the `RAFT_JOIN_ADDR` addresses until one
 * accepts (any member forwards it to the leader), with backoff and jitter.
 *
 * @module
 */
import { type JoinRequest, type JoinResponse, RaftNodeClient } from "@trading/proto/raft";
import { insecure, releaseClient, unary } from "@trading/shared/grpc";
import { RAFT_CHANNEL_OPTIONS } from "@trading/shared/raft-client";
import { getLogger } from "@trading/shared/log";
import { errorMessage, retry } from "@trading/shared/retry";

/**
 * Asks the cluster at `addresses` to add this node, until it is accepted or `signal` aborts.
 * Tries the leader's address first when an answer names it. Returns the accepting answer.
 */
export async function joinCluster(
  addresses: readonly string[],
  request: JoinRequest,
  { signal, deadlineMs = 10_000 }: { signal?: AbortSignal; deadlineMs?: number } = {},
): Promise<JoinResponse> {
  const log = getLogger("raft.join");
  // The clients are released, not closed, while the GOAWAY workaround is on (shared/grpc/grpc.ts
  // `DENO_GOAWAY_WORKAROUND`; a crash of the leader during cluster formation was seen once).
  // Idle after the join, they go away with this process.
  const clients = new Map<string, RaftNodeClient>();
  const client = (address: string) => {
    let c = clients.get(address);
    if (!c) {
      c = new RaftNodeClient(address, insecure(), RAFT_CHANNEL_OPTIONS);
      clients.set(address, c);
    }
    return c;
  };
  let next = 0;
  let hint = "";
  try {
    return await retry(async (attempt) => {
      const address = hint !== "" ? hint : addresses[next++ % addresses.length]!;
      hint = "";
      const c = client(address);
      const response = await unary(c, c.join, request, {
        deadlineMs,
        ...(signal ? { signal } : {}),
      }).catch((error) => {
        throw new Error(`Join through ${address} failed: ${errorMessage(error)}`);
      });
      if (response.accepted) {
        log.info("joined the cluster through {address}: {message}", {
          address,
          message: response.message,
          attempt,
        });
        return response;
      }
      if (response.leaderAddr !== "" && response.leaderAddr !== address) hint = response.leaderAddr;
      throw new Error(`Join through ${address} not accepted: ${response.message}`);
    }, {
      maxAttempts: Infinity,
      initialDelayMs: 100,
      maxDelayMs: 2000,
      ...(signal ? { signal } : {}),
      onRetry: (error, attempt, delayMs) => {
        if (attempt <= 3 || attempt % 10 === 0) {
          log.info("{error}; retrying in {delayMs} ms", { error: errorMessage(error), delayMs });
        }
      },
    });
  } finally {
    for (const c of clients.values()) releaseClient(c);
  }
}
