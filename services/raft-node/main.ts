/**
 * The `raft-node` role: one member of the order de-duplication cluster. Client and admin
 * APIs on PORT_GRPC, health and metrics on PORT_HTTP, the Raft transport on RAFT_BIND_ADDR.
 *
 * Cluster formation: `RAFT_BOOTSTRAP=true` on an empty data directory forms a one-node
 * cluster; an empty node with `RAFT_JOIN_ADDR` joins through those addresses; a node with
 * data is a member already and just starts.
 *
 * @module
 */
import { RaftAdminService, RaftNodeService } from "@trading/proto/raft";
import { startService } from "@trading/shared/service";
import { errorMessage } from "@trading/shared/retry";
import { loadRaftNodeConfig } from "./config.ts";
import { joinCluster } from "./join_cluster.ts";
import { raftAdminImplementation } from "./raft_admin_api.ts";
import { RaftNode } from "./raft_node.ts";
import { RaftNodeApi } from "./raft_node_api.ts";
import { openNodeStorage } from "./storage/node_storage.ts";
import { coalesceHttp2Writes } from "./http2/coalesce_http2_writes.ts";
import { installHttp2StreamRoutes, serveUnaryFastPath } from "./http2/grpc_unary_fast_path.ts";

/** Runs a raft-node until it is shut down; returns the exit code. */
export async function main(_args: string[]): Promise<number> {
  const config = loadRaftNodeConfig();
  // Before any gRPC server or channel exists: one socket write per HTTP/2 session per turn
  // of the event loop instead of one per frame.
  const http2Writes = coalesceHttp2Writes();
  // Apply, the hot method, and the transport's stream are served without grpc-js' per-call
  // and per-message machinery.
  installHttp2StreamRoutes();
  const api = new RaftNodeApi();
  serveUnaryFastPath(api.applyFastPath(config.clusterSecret));
  serveUnaryFastPath(api.applyBatchFastPath(config.clusterSecret));
  let node: RaftNode | undefined;
  const service = await startService({
    name: config.nodeId.startsWith("raft") ? config.nodeId : `raft-${config.nodeId}`,
    logLevel: config.logLevel,
    clusterSecret: config.clusterSecret,
    httpPort: config.httpPort,
    grpcPort: config.grpcPort,
    registerGrpc: (server) => {
      server.addService(RaftNodeService, api.implementation());
      server.addService(RaftAdminService, raftAdminImplementation(() => node?.transport.chaos));
    },
  });
  const log = service.log;
  // The client API's server session exists once a client connected; check then, once.
  Deno.unrefTimer(setTimeout(() => {
    if (http2Writes.unsupportedSessions() > 0) {
      log.warn("HTTP/2 write coalescing is not supported by this Deno: writes go out per frame");
    }
  }, 10_000));
  service.health.addCheck("raft", () => node?.leaderId ? true : "no leader known");
  try {
    const storage = await openNodeStorage(config.storage, config.dataDir, {
      nodeId: config.nodeId,
      preallocateBytes: config.logPreallocateBytes,
    });
    try {
      node = await RaftNode.create({ config, storage });
    } catch (error) {
      await storage.close();
      throw error;
    }
  } catch (error) {
    log.error("raft node failed to start: {error}", { error: errorMessage(error) });
    await service.shutdown.trigger("start-up failed");
    return 1;
  }
  const started = node;
  api.node = started;
  service.shutdown.defer("raft node", () => started.stop());
  started.start((error) => {
    // The Ready could not be persisted: running on would acknowledge what is not durable.
    log.error("raft node stopped on a fatal error: {error}", { error: errorMessage(error) });
    Deno.exit(1);
  });
  if (!started.isMember && !config.bootstrap) {
    if (config.joinAddrs.length > 0) {
      joinCluster(config.joinAddrs, {
        nodeId: config.nodeId,
        raftAddr: config.raftAddr,
        grpcAddr: config.grpcAddr,
      }, { signal: service.shutdown.signal }).catch((error) => {
        if (!service.shutdown.started) {
          log.error("joining the cluster failed: {error}", { error: errorMessage(error) });
        }
      });
    } else {
      log.warn("not a member, no RAFT_BOOTSTRAP and no RAFT_JOIN_ADDR: waiting to be added");
    }
  }
  return await service.shutdown.done;
}
