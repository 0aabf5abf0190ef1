/**
 * The cluster secret (`CLUSTER_SECRET`): one random string shared by every process of a
 * pipeline. Internal gRPC clients present it in the `x-cluster-secret` metadata of every
 * call; servers refuse a call without it (shared/grpc/grpc.ts). The supervisor generates one per
 * `up` when it is unset ({@linkcode generateClusterSecret}) and passes it to every child.
 *
 * A process reads it once, from its validated environment ({@linkcode processClusterSecret}),
 * so that every client it builds with the shared gRPC options sends it.
 *
 * @module
 */
import { timingSafeEqual } from "node:crypto";
import { clusterSecret, loadConfig } from "../runtime/config.ts";

/** The gRPC metadata key (and HTTP/2 header) that carries the secret. */
export const CLUSTER_SECRET_METADATA = "x-cluster-secret";

/** A new random secret: 32 bytes, base64url (43 characters). */
export function generateClusterSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/**
 * True when `presented` is `expected`, compared in time that does not depend on where they
 * differ (a remote caller must not learn the secret byte by byte from response times).
 */
export function clusterSecretMatches(expected: string, presented: unknown): boolean {
  if (typeof presented !== "string") return false;
  const a = new TextEncoder().encode(expected);
  const b = new TextEncoder().encode(presented);
  // Only the length can leak, and the length of a random secret tells nothing.
  return a.length === b.length && timingSafeEqual(a, b);
}

let loaded: { secret: string | undefined } | undefined;

/**
 * This process's `CLUSTER_SECRET` (validated like every variable; undefined when unset),
 * read from the environment once. Throws ConfigError for a malformed value.
 */
export function processClusterSecret(): string | undefined {
  loaded ??= { secret: loadConfig({ CLUSTER_SECRET: clusterSecret() }).CLUSTER_SECRET };
  return loaded.secret;
}
