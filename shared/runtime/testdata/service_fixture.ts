// A minimal service for shutdown tests: starts with startService, registers steps that log
// their order, optionally one that hangs, then waits for shutdown.
import { startService } from "../service.ts";
import { counter } from "../metrics.ts";

const hang = Deno.env.get("FIXTURE_HANG") === "1";
const service = await startService({
  name: "fixture",
  logLevel: "info",
  httpPort: 0,
  grpcPort: 0,
  shutdownDeadlineMs: Number(Deno.env.get("FIXTURE_DEADLINE_MS") ?? 3000),
});
counter("fixture_started_total", "Times the fixture started").inc();
service.health.addCheck("fixture", () => true);
service.shutdown.defer("first", () => console.log("STEP first"));
service.shutdown.defer("second", async () => {
  await new Promise((resolve) => setTimeout(resolve, 50));
  console.log("STEP second");
});
if (hang) service.shutdown.defer("hang", () => new Promise(() => {}));
console.log(`READY ${service.http.port} ${service.grpc?.port}`);
Deno.exit(await service.shutdown.done);
