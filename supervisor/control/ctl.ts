/**
 * The `ctl` role: `deno task ctl <command>` sends one control command to the running
 * supervisor (`SUPERVISOR_URL`, default http://127.0.0.1:8090, token from
 * `SUPERVISOR_TOKEN`) and prints its answer. Exit 0 on success, 2 on a usage error, 1 when
 * the command failed or the supervisor cannot be reached.
 *
 * @module
 */
import { z } from "zod";
import { loadConfig, optional, text } from "@trading/shared/config";
import { errorMessage } from "@trading/shared/retry";
import { pipelineCommands } from "./chaos_commands.ts";

const ctlEnv = {
  SUPERVISOR_URL: text("an http:// URL", "http://127.0.0.1:8090", /^https?:\/\/[^\s/]+\/?$/),
  SUPERVISOR_TOKEN: optional(text("a token")),
};

const ControlResponseSchema = z.object({ ok: z.boolean(), output: z.string() });

/** The role's entry: runs `args` as one command on the supervisor; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const config = loadConfig(ctlEnv);
  const command = args.join(" ").trim();
  if (command === "") {
    console.error(`Usage: deno task ctl <command>\n\n${pipelineCommands().usage()}`);
    return 2;
  }
  const url = `${config.SUPERVISOR_URL.replace(/\/$/, "")}/control`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(config.SUPERVISOR_TOKEN ? { authorization: `Bearer ${config.SUPERVISOR_TOKEN}` } : {}),
      },
      body: JSON.stringify({ command }),
      // A graceful restart may wait out a child's whole shutdown grace.
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    console.error(
      `Cannot reach the supervisor at ${config.SUPERVISOR_URL}: ${
        errorMessage(error)
      } (is "deno task up" running? set SUPERVISOR_URL if it listens elsewhere)`,
    );
    return 1;
  }
  const body = ControlResponseSchema.safeParse(await response.json().catch(() => undefined));
  if (!body.success) {
    console.error(
      `Unexpected answer from ${url}: HTTP ${response.status}, expected JSON {ok, output}`,
    );
    return 1;
  }
  if (response.status === 401) {
    console.error(`${body.data.output} (set SUPERVISOR_TOKEN to the supervisor's token)`);
    return 1;
  }
  if (body.data.ok) {
    console.log(body.data.output);
    return 0;
  }
  console.error(body.data.output);
  return response.status === 400 ? 2 : 1;
}
