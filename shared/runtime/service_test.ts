import assert from "node:assert/strict";
import { freePort } from "@trading/testing";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Runs a role with `env`; kills it after 20 s so a regression cannot hang the suite. */
async function runRole(role: string, env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--frozen", MAIN, role],
    env: { KAFKA_BROKERS: `127.0.0.1:${freePort()}`, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const output = await child.output();
  clearTimeout(timer);
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

for (const variable of ["PORT_HTTP", "PORT_GRPC"]) {
  Deno.test(`a service whose ${variable} is taken exits 2 with one line naming it`, async () => {
    using held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (held.addr as Deno.NetAddr).port;
    const other = variable === "PORT_HTTP" ? "PORT_GRPC" : "PORT_HTTP";
    const { code, stderr } = await runRole("market-ingestor", {
      [variable]: String(port),
      [other]: String(freePort()),
    });
    assert.equal(code, 2, stderr);
    const line = stderr.trim().split("\n").at(-1)!;
    assert.match(
      line,
      new RegExp(
        `^Invalid ${variable} "${port}": expected a free port \\(127\\.0\\.0\\.1:${port} is in use`,
      ),
    );
  });
}
