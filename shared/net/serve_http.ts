/**
 * One way to serve HTTP: a fetch-style handler (`Request` in, `Response` out) on Node's HTTP
 * server (node:http, through `@hono/node-server`'s request listener) with the connection
 * limits of ./connection_limits.ts. `Deno.serve` would be the obvious server, but it has no
 * cap on connections and no idle or read timeout; node:http has all three.
 *
 * @module
 */
import http from "node:http";
import type net from "node:net";
import { getRequestListener, RequestError } from "@hono/node-server";
import { capConnections, countClosedConnection, type HttpLimits } from "./connection_limits.ts";
import { getLogger } from "../runtime/log.ts";
import { errorMessage } from "../runtime/retry.ts";

/** A fetch-style request handler. */
export type HttpHandler = (request: Request) => Response | Promise<Response>;

/** A running HTTP server. */
export interface HttpServer {
  readonly port: number;
  /** Connections held now. */
  openConnections(): number;
  /**
   * Stops accepting, closes idle connections, waits up to `graceMs` (default 2 s) for the
   * others to finish (a streamed response may never), then closes them.
   */
  close(graceMs?: number): Promise<void>;
}

/** Options of {@linkcode serveHttp}. */
export interface ServeHttpOptions {
  port: number;
  hostname?: string;
  limits: HttpLimits;
  /** The server's name in logs and the `net_*` metrics. Default `http`. */
  name?: string;
  /** Largest request head (Node's default is 16 KiB); beyond it, 431. */
  maxHeaderBytes?: number;
}

/**
 * Serves `handler` on `hostname:port` (port 0 picks a free port) once bound. A request whose
 * Host header is malformed gets 400; a handler that throws gets 500 (logged).
 */
export function serveHttp(handler: HttpHandler, options: ServeHttpOptions): Promise<HttpServer> {
  const { limits, hostname = "127.0.0.1", name = "http" } = options;
  const log = getLogger(["net", "http"]);
  const listener = getRequestListener(handler, {
    // Keep Deno's own Request and Response: the default replaces the globals process-wide.
    overrideGlobalObjects: false,
    errorHandler: (error) => {
      // A request whose head cannot make a URL (a malformed Host): the handler never ran.
      if (error instanceof RequestError) {
        return new Response(`bad request: ${error.message}\n`, { status: 400 });
      }
      log.error("{server}: a request handler failed: {error}", {
        server: name,
        error: errorMessage(error),
      });
      return new Response("internal server error\n", { status: 500 });
    },
  });
  const server = http.createServer({
    headersTimeout: limits.readTimeoutMs,
    requestTimeout: limits.readTimeoutMs,
    keepAliveTimeout: limits.idleTimeoutMs,
    // Node checks the two read timeouts this often (30 s by default, which would let a
    // slow client keep its connection 30 s past its timeout).
    connectionsCheckingInterval: Math.max(100, Math.min(1000, limits.readTimeoutMs / 4)),
    maxHeaderSize: options.maxHeaderBytes ?? 16 * 1024,
  }, listener);
  const held = capConnections(server, { max: limits.maxConnections, name });
  // Node answers 408 on a read timeout; count it as such.
  server.on("clientError", (error: Error & { code?: string }, socket: net.Socket) => {
    if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") countClosedConnection(name, "read");
    if (!socket.destroyed && socket.writable && error.code !== "ECONNRESET") {
      const status = error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? "408 Request Timeout"
        : error.code === "HPE_HEADER_OVERFLOW"
        ? "431 Request Header Fields Too Large"
        : "400 Bad Request";
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
    }
    socket.destroy();
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, hostname, () => {
      server.off("error", reject);
      const port = (server.address() as net.AddressInfo).port;
      log.debug("{server} listening on {hostname}:{port}", { server: name, hostname, port });
      resolve({
        port,
        openConnections: held.open,
        close: (graceMs = 2000) =>
          new Promise<void>((done) => {
            const timer = setTimeout(() => server.closeAllConnections(), graceMs);
            server.close(() => {
              clearTimeout(timer);
              done();
            });
            server.closeIdleConnections();
          }),
      });
    });
  });
}
