/**
 * `deno task clean`: removes what running the project leaves behind: the data directory
 * (`.data`: broker log, Raft logs, outboxes, bench results), `dist` (compiled binary) and
 * `test-artifacts` (screenshots). Refuses while a supervisor answers on its port, so the
 * data of a running pipeline is not pulled from under it.
 *
 * @module
 */
const root = new URL("../", import.meta.url).pathname;
const TARGETS = [".data", "dist", "test-artifacts"];

async function supervisorRunning(): Promise<boolean> {
  const url = Deno.env.get("SUPERVISOR_URL") ?? "http://127.0.0.1:8090";
  try {
    const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(500) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

const USAGE = "Usage: deno task clean   (removes .data/, dist/ and test-artifacts/)";

if (import.meta.main) {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(USAGE);
    Deno.exit(0);
  }
  // It deletes: an argument it does not know (a typo, a path) stops it before anything goes.
  if (Deno.args.length > 0) {
    console.error(`Unknown argument "${Deno.args[0]}": expected none\n\n${USAGE}`);
    Deno.exit(2);
  }
  if (await supervisorRunning()) {
    console.error("A supervisor is running: stop it (deno task ctl shutdown) before cleaning");
    Deno.exit(1);
  }
  for (const target of TARGETS) {
    try {
      await Deno.remove(`${root}${target}`, { recursive: true });
      console.log(`removed ${target}/`);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
}
