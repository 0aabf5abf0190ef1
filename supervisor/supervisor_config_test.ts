import assert from "node:assert/strict";
import { ConfigError } from "@trading/shared/config";
import { isLoopbackHost } from "@trading/shared/config";
import { loadSupervisorConfig } from "./supervisor_config.ts";

Deno.test("loadSupervisorConfig() defaults to 127.0.0.1:8090, offset 0, data in .data", () => {
  const config = loadSupervisorConfig({});
  assert.equal(config.SUPERVISOR_HTTP_HOST, "127.0.0.1");
  assert.equal(config.SUPERVISOR_HTTP_PORT, 8090);
  assert.equal(config.SUPERVISOR_PORT_OFFSET, 0);
  assert.equal(config.SUPERVISOR_DATA_DIR, ".data");
  assert.equal(config.SUPERVISOR_TOKEN, undefined);
  assert.equal(config.KAFKA_BROKERS, undefined);
});

Deno.test("loadSupervisorConfig() names a bad SUPERVISOR_HTTP_PORT and the expected form", () => {
  assert.throws(
    () => loadSupervisorConfig({ SUPERVISOR_HTTP_PORT: "abc" }),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.message === 'Invalid SUPERVISOR_HTTP_PORT "abc": expected an integer port 0-65535',
  );
  assert.throws(
    () => loadSupervisorConfig({ SUPERVISOR_PORT_OFFSET: "20000" }),
    /Invalid SUPERVISOR_PORT_OFFSET "20000": expected an integer 0-15463/,
  );
});

Deno.test("loadSupervisorConfig() refuses a non-loopback host without a token", () => {
  assert.throws(
    () => loadSupervisorConfig({ SUPERVISOR_HTTP_HOST: "0.0.0.0" }),
    /^ConfigError: Missing SUPERVISOR_TOKEN: expected a token when SUPERVISOR_HTTP_HOST "0\.0\.0\.0" is not a loopback address$/,
  );
  const config = loadSupervisorConfig({
    SUPERVISOR_HTTP_HOST: "0.0.0.0",
    SUPERVISOR_TOKEN: "s3cret-token",
  });
  assert.equal(config.SUPERVISOR_TOKEN, "s3cret-token");
});

Deno.test("isLoopbackHost() knows 127.0.0.0/8, ::1 and localhost", () => {
  for (const host of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"]) {
    assert.equal(isLoopbackHost(host), true, host);
  }
  for (const host of ["0.0.0.0", "10.0.0.1", "::", "example.invalid", "127.0.0.1.nip"]) {
    assert.equal(isLoopbackHost(host), false, host);
  }
});

Deno.test("loadSupervisorConfig() reads SUPERVISOR_MAX_REQUEST_BYTES (16384 by default) and names a bad one", () => {
  assert.equal(loadSupervisorConfig({}).SUPERVISOR_MAX_REQUEST_BYTES, 16_384);
  assert.equal(
    loadSupervisorConfig({ SUPERVISOR_MAX_REQUEST_BYTES: "4096" }).SUPERVISOR_MAX_REQUEST_BYTES,
    4096,
  );
  assert.throws(
    () => loadSupervisorConfig({ SUPERVISOR_MAX_REQUEST_BYTES: "lots" }),
    (error: unknown) =>
      error instanceof ConfigError && error.variable === "SUPERVISOR_MAX_REQUEST_BYTES",
  );
});
