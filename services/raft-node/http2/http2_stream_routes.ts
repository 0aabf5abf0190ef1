/**
 * Routes chosen HTTP/2 paths of the gRPC servers in this process to handlers of our own,
 * ahead of grpc-js: `http2.createServer` is wrapped so that each server offers its
 * "stream" events to the routes first; a stream no route takes reaches grpc-js as before.
 * grpc-js looks `createServer` up on the module object when it binds, so install before
 * the server is created (routes may be added later).
 *
 * Used to serve the hot gRPC methods without grpc-js' per-call and per-message machinery
 * ({@link ./grpc_unary_fast_path.ts}, the Raft transport's stream).
 *
 * @module
 */
import http2 from "node:http2";

/** Handles one request stream; returns false to leave it to grpc-js after all. */
export type Http2StreamHandler = (
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
) => boolean;

/** Handlers by path, then by local port (0: any port). */
const routes = new Map<string, Map<number, Http2StreamHandler>>();
let installed = false;

/**
 * Sends the streams of `path` to `handler` on servers listening on `port` (0: every server,
 * for a path only one server has; a port keeps several servers of one process apart, as the
 * transports of a test do). Returns the function that removes the route.
 */
export function routeHttp2Stream(
  path: string,
  handler: Http2StreamHandler,
  port = 0,
): () => void {
  installHttp2StreamRoutes();
  let byPort = routes.get(path);
  if (byPort === undefined) routes.set(path, byPort = new Map());
  byPort.set(port, handler);
  return () => {
    if (byPort.get(port) !== handler) return;
    byPort.delete(port);
    if (byPort.size === 0) routes.delete(path);
  };
}

/** Wraps `http2.createServer` (idempotent); see the module doc. */
export function installHttp2StreamRoutes(): void {
  if (installed) return;
  installed = true;
  const module = http2 as unknown as Record<string, unknown>;
  const createServer = http2.createServer;
  module.createServer = function (this: unknown, ...args: unknown[]) {
    const server = (createServer as (...a: unknown[]) => http2.Http2Server).apply(this, args);
    const emit = server.emit;
    server.emit = function (this: http2.Http2Server, event: string | symbol, ...rest: unknown[]) {
      if (event === "stream" && offer(rest[0], rest[1])) return true;
      return emit.call(this, event, ...rest);
    } as typeof server.emit;
    return server;
  };
}

function offer(stream: unknown, headers: unknown): boolean {
  const h = headers as http2.IncomingHttpHeaders;
  const byPort = routes.get(h[":path"] ?? "");
  if (byPort === undefined) return false;
  const s = stream as http2.ServerHttp2Stream;
  const handler = byPort.get(s.session?.socket?.localPort ?? -1) ?? byPort.get(0);
  return handler !== undefined && handler(s, h);
}
