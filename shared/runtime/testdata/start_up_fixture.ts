// A service whose start-up does what FIXTURE_START says, for start_up_test.ts:
// `fail` throws, `retry:N` fails N times then succeeds, `fatal` succeeds and then reports a
// fatal consumer crash. Logs JSON lines on stdout; prints RUNNING once started.
import { startService } from "../service.ts";
import { exitOnFatal, retryStartUp, runStartUp } from "../start_up.ts";

const [mode = "fail", count = "0"] = (Deno.env.get("FIXTURE_START") ?? "").split(":");
const service = await startService({ name: "fixture", logLevel: "info", httpPort: 0 });
let attempts = 0;
Deno.exit(
  await runStartUp(service, async () => {
    if (mode === "fail") throw new Error("Broker gone: expected one");
    await retryStartUp(service, () => {
      attempts++;
      if (attempts <= Number(count)) return Promise.reject(new Error(`attempt ${attempts}`));
      return Promise.resolve();
    });
    console.log(`RUNNING after ${attempts} attempts`);
    if (mode === "fatal") exitOnFatal(service)(new Error("Group coordinator lost"));
  }),
);
