/**
 * Test helper: runs the `broker` role as a child process (`deno run -A main.ts broker`) on
 * given ports, waits for `/readyz`, and collects its output.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { waitFor } from "@trading/shared/testing";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
const decoder = new TextDecoder();

/** A broker child process. */
export interface BrokerProcess {
  child: Deno.ChildProcess;
  /** `127.0.0.1:<kafka port>`. */
  address: string;
  httpPort: number;
  /** Sends `signal`, waits for exit; resolves to the exit code and everything it printed. */
  stop(signal: Deno.Signal): Promise<{ code: number; output: string }>;
}

/** Starts the broker role with `env` added to BROKER_PORT, PORT_HTTP and BROKER_DATA_DIR. */
export async function spawnBrokerProcess(
  dataDir: string,
  kafkaPort: number,
  httpPort: number,
  env: Record<string, string> = {},
): Promise<BrokerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "broker"],
    env: {
      BROKER_PORT: String(kafkaPort),
      PORT_HTTP: String(httpPort),
      BROKER_DATA_DIR: dataDir,
      ...env,
    },
    stdin: "piped", // shared/shutdown.ts treats a closed stdin as "supervisor gone"
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    let text = "";
    for await (const chunk of stream) text += decoder.decode(chunk);
    return text;
  };
  const output = Promise.all([collect(child.stdout), collect(child.stderr)]).then(([a, b]) =>
    a + b
  );
  const stop = async (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // Already exited.
    }
    await child.stdin.close().catch(() => {});
    const status = await child.status;
    return { code: status.code, output: await output };
  };
  try {
    await waitFor("broker ready", async () => {
      const response = await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => undefined);
      await response?.body?.cancel();
      return response?.status === 200;
    }, { timeoutMs: 30_000 });
  } catch (error) {
    const { output: text } = await stop("SIGKILL");
    throw new Error(`Broker did not become ready: ${text.slice(-2000)}`, { cause: error });
  }
  return { child, address: `127.0.0.1:${kafkaPort}`, httpPort, stop };
}
