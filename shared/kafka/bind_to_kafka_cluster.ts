/**
 * Binds a service's local SQLite state to the Kafka cluster it was made against: the
 * stream-processor's saved offsets and the executor's outbox only make sense against one log
 * (see ./kafka_cluster_id.ts), so state found beside another cluster's id is dropped.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";

/**
 * Records `clusterId` in the `meta` table of `db`. When another cluster's id was recorded,
 * calls `reset` (which deletes the state) first and returns true; returns false when the id
 * is new or unchanged. Call it inside the caller's transaction, so that the reset and the
 * new id are written together.
 */
export function bindToKafkaCluster(
  db: DatabaseSync,
  clusterId: string,
  reset: () => void,
): boolean {
  db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  const row = db.prepare("SELECT value FROM meta WHERE key = 'kafka_cluster_id'").get() as
    | { value: string }
    | undefined;
  if (row?.value === clusterId) return false;
  const other = row !== undefined;
  if (other) reset();
  db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('kafka_cluster_id', ?)")
    .run(clusterId);
  return other;
}
