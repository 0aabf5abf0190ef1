import assert from "node:assert/strict";
import { ConfigError } from "@trading/shared/config";
import { loadRaftNodeConfig } from "./config.ts";
import { RAFT_NODE_DEFAULTS } from "./defaults.ts";

Deno.test("loadRaftNodeConfig() reads RAFT_TRANSPORT, grpc or tcp, with the default when unset", () => {
  assert.equal(loadRaftNodeConfig({ RAFT_NODE_ID: "1" }).transport, RAFT_NODE_DEFAULTS.transport);
  assert.equal(loadRaftNodeConfig({ RAFT_NODE_ID: "1", RAFT_TRANSPORT: "tcp" }).transport, "tcp");
  assert.equal(loadRaftNodeConfig({ RAFT_NODE_ID: "1", RAFT_TRANSPORT: "grpc" }).transport, "grpc");
  assert.throws(
    () => loadRaftNodeConfig({ RAFT_NODE_ID: "1", RAFT_TRANSPORT: "udp" }),
    (error) => error instanceof ConfigError && /RAFT_TRANSPORT/.test(error.message),
  );
});

Deno.test("loadRaftNodeConfig() reads RAFT_STORAGE, sqlite or log, and names it when invalid", () => {
  assert.equal(loadRaftNodeConfig({ RAFT_NODE_ID: "1" }).storage, RAFT_NODE_DEFAULTS.storage);
  assert.equal(loadRaftNodeConfig({ RAFT_NODE_ID: "1", RAFT_STORAGE: "log" }).storage, "log");
  assert.equal(loadRaftNodeConfig({ RAFT_NODE_ID: "1", RAFT_STORAGE: "sqlite" }).storage, "sqlite");
  assert.throws(
    () => loadRaftNodeConfig({ RAFT_NODE_ID: "1", RAFT_STORAGE: "rocksdb" }),
    (error) =>
      error instanceof ConfigError && /RAFT_STORAGE "rocksdb"/.test(error.message) &&
      /sqlite\|log/.test(error.message),
  );
});

Deno.test("loadRaftNodeConfig() reads RAFT_LOG_PREALLOCATE_BYTES, 0 (off) or at least 4096, and names it when invalid", () => {
  assert.equal(loadRaftNodeConfig({ RAFT_NODE_ID: "1" }).logPreallocateBytes, 4 * 1024 * 1024);
  const read = (value: string) =>
    loadRaftNodeConfig({ RAFT_NODE_ID: "1", RAFT_LOG_PREALLOCATE_BYTES: value })
      .logPreallocateBytes;
  assert.equal(read("0"), 0);
  assert.equal(read("65536"), 65536);
  for (const bad of ["100", "-1", "lots", String(2 * 1024 * 1024 * 1024)]) {
    assert.throws(
      () => read(bad),
      (error) =>
        error instanceof ConfigError &&
        error.message.includes(`RAFT_LOG_PREALLOCATE_BYTES "${bad}"`),
      bad,
    );
  }
});
