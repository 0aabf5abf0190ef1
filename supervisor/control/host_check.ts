/**
 * The supervisor's Host check, against DNS rebinding: a web page on `evil.example` whose name
 * is made to resolve to 127.0.0.1 talks to the supervisor as "its own" origin, so the Origin
 * check (which compares with a URL built from the Host header) passes, and without a token a
 * loopback supervisor would obey its `kill` and `shutdown`. A browser always sends the name
 * it resolved in `Host`, so a request is served only when `Host` names this supervisor:
 * `127.0.0.1`, `localhost`, `[::1]` or the configured `SUPERVISOR_HTTP_HOST`, with the port
 * it listens on. Others are refused with 421 Misdirected Request, before any route runs.
 *
 * A supervisor bound to every address (`0.0.0.0`, `::`) has a token (supervisor_config.ts),
 * and is reached by whatever names the machine has; there any IP literal is accepted too (a
 * rebinding page cannot make its browser send a literal it did not navigate to), and names
 * from `SUPERVISOR_ALLOWED_HOSTS`.
 *
 * @module
 */
import { counter } from "@trading/shared/metrics";

const hostRefused = counter(
  "supervisor_http_host_refused_total",
  "HTTP requests refused because their Host header does not name the supervisor",
);

/** Options of {@linkcode hostChecker}. */
export interface HostCheckOptions {
  /** The address the server is bound to (`SUPERVISOR_HTTP_HOST`). */
  hostname: string;
  /** The port it listens on (the bound one, after 0 picked a free port). */
  port: number;
  /** More host names (without port) that name this supervisor. */
  allowedHosts?: readonly string[];
}

/** `[::1]` and `::1` compare the same; names compare case-insensitively. */
function bareHost(host: string): string {
  return host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
}

function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

/**
 * Splits a Host header into host and port (80 when absent, as for `http:`); undefined when it
 * is malformed.
 */
export function parseHostHeader(value: string): { host: string; port: number } | undefined {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(value.trim());
  if (!match) return undefined;
  const port = match[2] === undefined ? 80 : Number(match[2]);
  if (port > 65535) return undefined;
  return { host: bareHost(match[1]!), port };
}

/**
 * Returns a function that tells why a request must be refused because its Host header does
 * not name this supervisor, or undefined when it may be served.
 */
export function hostChecker(options: HostCheckOptions): (request: Request) => string | undefined {
  const bound = bareHost(options.hostname);
  const wildcard = bound === "0.0.0.0" || bound === "::";
  const names = new Set(["127.0.0.1", "localhost", "::1", ...(options.allowedHosts ?? [])].map(
    bareHost,
  ));
  if (!wildcard) names.add(bound);
  return (request) => {
    const header = request.headers.get("host");
    if (header === null) return "missing Host header";
    const parsed = parseHostHeader(header);
    if (parsed === undefined) return `malformed Host header "${header}"`;
    const named = names.has(parsed.host) || (wildcard && isIpLiteral(parsed.host));
    if (!named || parsed.port !== options.port) {
      return `Host "${header}" does not name this supervisor (expected ${
        [...names].map((n) => `${n.includes(":") ? `[${n}]` : n}:${options.port}`).join(", ")
      })`;
    }
    return undefined;
  };
}

/** The 421 answer to a request refused by the Host check; counts it. */
export function misdirected(reason: string): Response {
  hostRefused.inc();
  return Response.json({ ok: false, output: `Misdirected request: ${reason}` }, { status: 421 });
}
