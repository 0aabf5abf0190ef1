/**
 * Connection limits of the HTTP and gRPC ports: how many connections a server holds at
 * once, how long a connection may sit idle, and how long a client may take to send what it
 * must. The broker's Kafka port has limits of its own (services/broker/README.md); these
 * are every other server's. docs/SECURITY.md lists them all with their defaults.
 *
 * A server over its connection cap closes a new connection at once (the client sees a
 * reset and may retry) and counts it in `net_connections_refused_total{server}`; a
 * connection closed for a timeout is counted in `net_connections_closed_total{server,
 * reason}`.
 *
 * @module
 */
import type net from "node:net";
import { int, loadConfig } from "../runtime/config.ts";
import { counter, gauge } from "../runtime/metrics.ts";
import { getLogger } from "../runtime/log.ts";

/** Limits of an HTTP server (every `/healthz` server and the supervisor's API). */
export interface HttpLimits {
  /** Connections held at once; one more is closed at once. */
  maxConnections: number;
  /** A kept-alive connection with no request in flight is closed after this long. */
  idleTimeoutMs: number;
  /**
   * A request must arrive whole (head and body) within this long of the connection's accept,
   * or of the previous response: else 408 and the connection is closed (slowloris, or a
   * client that connects and sends nothing).
   * A response may stream for as long as it likes (the supervisor's event stream).
   */
  readTimeoutMs: number;
}

/** Limits of a gRPC server (client APIs, admin APIs, the Raft transport over gRPC). */
export interface GrpcLimits {
  /** Connections held at once; one more is closed at once. */
  maxConnections: number;
  /**
   * A connection over which no byte moved either way for this long is closed (a plain TCP
   * close, no GOAWAY: see DENO_GOAWAY_WORKAROUND in shared/grpc/grpc.ts). Our clients send
   * an HTTP/2 PING every 10 s (`GRPC_OPTIONS`), so only a silent client is closed.
   */
  idleTimeoutMs: number;
  /** The client's HTTP/2 connection preface must arrive within this long of the accept. */
  handshakeTimeoutMs: number;
}

/** The defaults, each overridable by the variable named in {@linkcode connectionLimitsEnv}. */
export const HTTP_LIMIT_DEFAULTS: Readonly<HttpLimits> = {
  maxConnections: 256,
  idleTimeoutMs: 30_000,
  readTimeoutMs: 10_000,
};

/** The defaults, each overridable by the variable named in {@linkcode connectionLimitsEnv}. */
export const GRPC_LIMIT_DEFAULTS: Readonly<GrpcLimits> = {
  maxConnections: 1000,
  idleTimeoutMs: 300_000,
  handshakeTimeoutMs: 10_000,
};

/** The variables of the limits, for {@linkcode loadConfig}. */
export const connectionLimitsEnv = {
  HTTP_MAX_CONNECTIONS: int(1, 1_000_000, HTTP_LIMIT_DEFAULTS.maxConnections),
  HTTP_IDLE_TIMEOUT_MS: int(100, 86_400_000, HTTP_LIMIT_DEFAULTS.idleTimeoutMs),
  HTTP_READ_TIMEOUT_MS: int(100, 86_400_000, HTTP_LIMIT_DEFAULTS.readTimeoutMs),
  GRPC_MAX_CONNECTIONS: int(1, 1_000_000, GRPC_LIMIT_DEFAULTS.maxConnections),
  GRPC_IDLE_TIMEOUT_MS: int(1000, 86_400_000, GRPC_LIMIT_DEFAULTS.idleTimeoutMs),
  GRPC_HANDSHAKE_TIMEOUT_MS: int(100, 86_400_000, GRPC_LIMIT_DEFAULTS.handshakeTimeoutMs),
};

/** Both sets of limits. */
export interface ConnectionLimits {
  http: HttpLimits;
  grpc: GrpcLimits;
}

/**
 * The limits from `env` (default: this process's environment). Throws a `ConfigError`
 * naming the first malformed variable, so a service that calls it before it binds stops
 * start-up with that message.
 */
export function loadConnectionLimits(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): ConnectionLimits {
  const c = loadConfig(connectionLimitsEnv, env);
  return {
    http: {
      maxConnections: c.HTTP_MAX_CONNECTIONS,
      idleTimeoutMs: c.HTTP_IDLE_TIMEOUT_MS,
      readTimeoutMs: c.HTTP_READ_TIMEOUT_MS,
    },
    grpc: {
      maxConnections: c.GRPC_MAX_CONNECTIONS,
      idleTimeoutMs: c.GRPC_IDLE_TIMEOUT_MS,
      handshakeTimeoutMs: c.GRPC_HANDSHAKE_TIMEOUT_MS,
    },
  };
}

const log = getLogger(["net", "limits"]);
const REFUSAL_LOG_INTERVAL_MS = 10_000;

function refusedCounter() {
  return counter(
    "net_connections_refused_total",
    "Connections closed on accept because the server held its maximum",
    ["server"],
  );
}

function closedCounter() {
  return counter(
    "net_connections_closed_total",
    "Connections the server closed for a timeout",
    ["server", "reason"],
  );
}

/** Counts a connection the server closed for a timeout (`reason`: idle, handshake, read). */
export function countClosedConnection(server: string, reason: string): void {
  closedCounter().inc({ server, reason });
}

/**
 * Caps the connections `server` holds at `max`: a connection accepted beyond it is destroyed
 * before any other `connection` listener sees data, counted and logged (at most once per
 * 10 s). Node's own `maxConnections` does the same but Deno's node:net neither emits its
 * `drop` event nor lets it be counted. Returns the number of connections held, for tests
 * and the `net_connections_open{server}` gauge.
 */
export function capConnections(
  server: net.Server,
  { max, name }: { max: number; name: string },
): { open(): number } {
  let open = 0;
  let refused = 0;
  let lastLog = -Infinity;
  const openGauge = gauge("net_connections_open", "Connections a server holds", ["server"]);
  server.prependListener("connection", (socket: net.Socket) => {
    if (open >= max) {
      socket.destroy();
      refusedCounter().inc({ server: name });
      refused++;
      const now = performance.now();
      if (now - lastLog >= REFUSAL_LOG_INTERVAL_MS) {
        log.warn("{server}: refused {count} connection(s), {max} are open", {
          server: name,
          count: refused,
          max,
        });
        lastLog = now;
        refused = 0;
      }
      return;
    }
    open++;
    openGauge.set({ server: name }, open);
    socket.once("close", () => {
      open--;
      openGauge.set({ server: name }, open);
    });
  });
  return { open: () => open };
}

/**
 * Closes `socket` when no byte moved either way for `idleTimeoutMs`, or when fewer than
 * `handshakeBytes` arrived within `handshakeTimeoutMs`. It polls the socket's byte counters
 * (a quarter of the shorter timeout apart) instead of listening for data, so that it never
 * competes with the protocol that reads the socket (HTTP/2 reads it below the stream API).
 */
export function closeWhenSilent(
  socket: net.Socket,
  { idleTimeoutMs, handshakeTimeoutMs, handshakeBytes, name }: {
    idleTimeoutMs: number;
    handshakeTimeoutMs: number;
    handshakeBytes: number;
    name: string;
  },
): void {
  const acceptedAt = performance.now();
  let lastMoved = acceptedAt;
  let lastCount = -1;
  const everyMs = Math.max(50, Math.min(idleTimeoutMs, handshakeTimeoutMs) / 4);
  const timer = setInterval(() => {
    const now = performance.now();
    const read = socket.bytesRead ?? 0;
    const count = read + (socket.bytesWritten ?? 0);
    if (count !== lastCount) {
      lastCount = count;
      lastMoved = now;
    }
    let reason: string | undefined;
    if (read < handshakeBytes && now - acceptedAt >= handshakeTimeoutMs) reason = "handshake";
    else if (now - lastMoved >= idleTimeoutMs) reason = "idle";
    if (reason === undefined) return;
    clearInterval(timer);
    countClosedConnection(name, reason);
    log.debug("{server}: closed a connection from {peer} ({reason})", {
      server: name,
      peer: `${socket.remoteAddress}:${socket.remotePort}`,
      reason,
    });
    socket.destroy();
  }, everyMs);
  Deno.unrefTimer(timer);
  socket.once("close", () => clearInterval(timer));
}
