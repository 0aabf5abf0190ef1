import assert from "node:assert/strict";
import { hostChecker, parseHostHeader } from "./host_check.ts";

const request = (host: string | undefined) =>
  new Request("http://127.0.0.1/", host === undefined ? {} : { headers: { host } });

Deno.test("parseHostHeader() splits host and port, 80 when absent, and refuses the malformed", () => {
  assert.deepEqual(parseHostHeader("LocalHost:8090"), { host: "localhost", port: 8090 });
  assert.deepEqual(parseHostHeader("[::1]:8090"), { host: "::1", port: 8090 });
  assert.deepEqual(parseHostHeader("example.org"), { host: "example.org", port: 80 });
  for (const bad of ["a b", "host:99999", "host:", "[::1", "", "user@host:1"]) {
    assert.equal(parseHostHeader(bad), undefined, bad);
  }
});

Deno.test("hostChecker() on loopback takes the loopback names with its port only", () => {
  const check = hostChecker({ hostname: "127.0.0.1", port: 8090 });
  for (const ok of ["127.0.0.1:8090", "localhost:8090", "[::1]:8090"]) {
    assert.equal(check(request(ok)), undefined, ok);
  }
  for (const bad of ["evil.example:8090", "127.0.0.1:8091", "127.0.0.1", "10.0.0.1:8090"]) {
    assert.match(check(request(bad)) ?? "", /does not name this supervisor/, bad);
  }
});

Deno.test("hostChecker() takes the configured host and SUPERVISOR_ALLOWED_HOSTS names", () => {
  const check = hostChecker({ hostname: "10.1.2.3", port: 8090, allowedHosts: ["ops.lan"] });
  assert.equal(check(request("10.1.2.3:8090")), undefined);
  assert.equal(check(request("OPS.lan:8090")), undefined);
  assert.notEqual(check(request("evil.example:8090")), undefined);
});

Deno.test("hostChecker() bound to every address takes IP literals but no other name", () => {
  const check = hostChecker({ hostname: "0.0.0.0", port: 8090 });
  assert.equal(check(request("192.168.1.20:8090")), undefined);
  assert.equal(check(request("[fe80::1]:8090")), undefined);
  assert.notEqual(check(request("rebind.evil.example:8090")), undefined);
});
