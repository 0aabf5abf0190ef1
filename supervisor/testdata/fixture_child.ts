/**
 * A child process for the supervisor's tests, configured by flags:
 *
 *   --name <name>            printed in its lines
 *   --tick-ms <ms>           print "tick <n>" every ms (plain text, not JSON)
 *   --json                   print ticks as JSON log lines instead
 *   --http-port <port>       serve GET /readyz (200) on 127.0.0.1
 *   --ready-after-ms <ms>    /readyz answers 503 until then
 *   --exit-after-ms <ms>     exit by itself after ms ...
 *   --exit-code <code>       ... with this code (default 1)
 *   --ignore-sigterm         keep running on SIGTERM (the supervisor must SIGKILL it)
 *   --term-log <path>        append "<name>\n" to path when SIGTERM arrives
 *   --watch-stdin            exit when stdin reaches EOF, as shared/runtime/shutdown.ts does
 *
 * Run with `deno run -A supervisor/testdata/fixture_child.ts --name a --tick-ms 100`.
 *
 * @module
 */

function flag(name: string): string | undefined {
  const index = Deno.args.indexOf(`--${name}`);
  return index >= 0 ? Deno.args[index + 1] : undefined;
}
const has = (name: string) => Deno.args.includes(`--${name}`);

const name = flag("name") ?? "fixture";
const tickMs = Number(flag("tick-ms") ?? 0);
const httpPort = flag("http-port");
const readyAt = Date.now() + Number(flag("ready-after-ms") ?? 0);
const exitAfterMs = flag("exit-after-ms");
const exitCode = Number(flag("exit-code") ?? 1);
const termLog = flag("term-log");

function say(message: string): void {
  console.log(
    has("json")
      ? JSON.stringify({
        time: new Date().toISOString(),
        level: "info",
        service: name,
        category: "fixture",
        message,
      })
      : message,
  );
}

Deno.addSignalListener("SIGTERM", () => {
  if (termLog) Deno.writeTextFileSync(termLog, `${name}\n`, { append: true });
  if (has("ignore-sigterm")) {
    say("ignoring SIGTERM");
    return;
  }
  Deno.exit(0);
});

if (httpPort) {
  Deno.serve({ hostname: "127.0.0.1", port: Number(httpPort), onListen: () => {} }, (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/readyz") {
      return new Response(Date.now() >= readyAt ? "ready" : "not yet", {
        status: Date.now() >= readyAt ? 200 : 503,
      });
    }
    return new Response("ok");
  });
}

if (exitAfterMs) setTimeout(() => Deno.exit(exitCode), Number(exitAfterMs));

if (tickMs > 0) {
  let n = 0;
  setInterval(() => say(`tick ${++n}`), tickMs);
}

if (has("watch-stdin")) {
  (async () => {
    const buffer = new Uint8Array(64);
    while ((await Deno.stdin.read(buffer)) !== null) { /* ignore input */ }
    Deno.exit(0);
  })();
}

say(`${name} started (pid ${Deno.pid})`);
// Keep the process alive whatever the flags.
setInterval(() => {}, 1 << 30);
