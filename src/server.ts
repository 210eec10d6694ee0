import { watch, type FSWatcher } from "node:fs";
import type { Server } from "bun";
import { hostname as machineName } from "node:os";
import type { LoadOptions } from "./config/load.ts";
import { CONFIG_FILES } from "./config/locate.ts";
import type { HandleOptions, SnapshotHolder } from "./http/exchange.ts";
import { isWebSocketUpgrade, WEBSOCKET_ADMITTED } from "./http/websocket.ts";
import { ResponsesSocket } from "./operations/responses-ws.ts";
import type { Logger } from "./log.ts";
import { openPostgresLogThread, openSqliteRequestLog } from "./observe/request-log-thread.ts";
import { createRuntime, type SqliteOpeners } from "./runtime.ts";
import { openSqliteStore } from "./state/sqlite-store.ts";
import { openSqliteKeys } from "./keys/sqlite-keys.ts";
import { openRedisLink } from "./state/redis-link.ts";
import { redactedUrl, type SharedLink } from "./state/shared-link.ts";

export class PortInUseError extends Error {
  constructor(
    readonly hostname: string,
    readonly port: number,
  ) {
    super(`${hostname}:${port} is already in use`);
  }
}

export interface StartOptions extends LoadOptions {
  log: Logger;
  /** Reload when a config file in the directory changes. */
  watchFiles?: boolean;
}

export interface RunningServer {
  url: string;
  hostname: string;
  port: number;
  holder: SnapshotHolder;
  /** The link to shared state (Redis) when gateway.yaml names one. */
  shared?: SharedLink;
  /** Settled once the config directory is watched (when it is to be), AFTER_LISTENING_MS after listening. */
  watching: Promise<void>;
  /** Re-reads the config; a broken file keeps the current one serving. Returns whether it was applied. */
  reload(reason: string): boolean;
  /** Stops accepting connections, lets requests in flight finish (up to `drainMs`), then closes. */
  stop(drainMs?: number): Promise<void>;
  pendingRequests(): number;
  /** Client keys made with `levity keys add` that are neither revoked nor expired. */
  madeKeys(): number;
}

// The gateway enforces proxy.max_body_mb itself, in the client's error shape; Bun's own limit is only a backstop.
const BUN_BODY_BACKSTOP = 1024 * 1024 * 1024;
// Idle keep-alive connections are closed after this long; a request in progress has no idle limit
// here, because an upstream may think for minutes before its first byte.
const IDLE_CONNECTION_SECONDS = 120;

// What a response.create message may hold besides the body of the POST it becomes.
const MESSAGE_ENVELOPE_BYTES = 64 * 1024;
// Bun's largest idle limit for a WebSocket.
const WEBSOCKET_IDLE_SECONDS = 960;

interface SocketData {
  upgrade: { url: string; headers: Headers };
  socket?: ResponsesSocket;
}

/**
 * How long after listening levity waits before the work serving does not need: watching the
 * config directory, and (in `serve`) making and printing the start-up block. A request that is
 * waiting when levity starts to listen is answered first. setImmediate was not enough: Bun runs
 * the immediate callbacks before it polls the listening socket, so both came first.
 */
const AFTER_LISTENING_MS = 1;

// The request log's worker module, as build.ts compiles it in beside this file (and as it sits in src/).
const requestLogWorker = () => new URL("./observe/request-log-worker.ts", import.meta.url);

// Bun has SQLite: state and the request log survive a restart.
const BUN_SQLITE: SqliteOpeners = Object.freeze({
  store: (path: string) => openSqliteStore(path),
  requestLog: (options: Parameters<SqliteOpeners["requestLog"]>[0]) =>
    openSqliteRequestLog({ ...options, worker: requestLogWorker() }),
  keys: openSqliteKeys,
});

/** Loads the configuration and serves it; throws ConfigError or PortInUseError without serving. */
export function startServer(options: StartOptions): RunningServer {
  const { log } = options;
  let server: ReturnType<typeof Bun.serve<SocketData>>;
  // Kept from the start: a stopped server's port reads 0, and the records written at a stop
  // would name that.
  let listeningPort: number | undefined;
  const runtime = createRuntime({
    ...options,
    host: {
      env: process.env,
      sqlite: BUN_SQLITE,
      listeningOn: () => `${server.hostname}:${server.port}`,
      // Each record names the instance that served it: this machine and the port it listens on.
      postgresLog: (settings) =>
        openPostgresLogThread({
          ...settings,
          instance: () => `${machineName()}:${listeningPort ?? port}`,
          worker: requestLogWorker(),
        }),
      sharedLink: (settings, log) =>
        openRedisLink(settings.url, {
          timeoutMs: settings.timeoutMs,
          label: redactedUrl(settings.url),
          warn: (message) => log.warn(message),
          info: (message) => log.info(message),
        }),
    },
  });
  const { holder, gateway } = runtime;
  const { hostname, port } = holder.snapshot.proxy;

  // Open Responses WebSockets: a stop closes the idle ones rather than waiting out the drain for them.
  const sockets = new Set<ResponsesSocket>();
  // Admitted exactly as a POST on the same path would be; a refusal is an ordinary HTTP error.
  const upgradeSocket = async (
    request: Request,
    bunServer: Server<SocketData>,
  ): Promise<Response | undefined> => {
    const address = bunServer.requestIP(request)?.address;
    const admitted = await gateway(request, { websocket: true, peer: () => address });
    if (!admitted.headers.has(WEBSOCKET_ADMITTED)) return admitted;
    const upgrade = { url: request.url, headers: new Headers(request.headers), address };
    if (
      bunServer.upgrade(request, {
        data: { upgrade },
        headers: { "x-request-id": admitted.headers.get("x-request-id") ?? "" },
      })
    )
      return undefined;
    return new Response("WebSocket upgrade failed", { status: 400 });
  };
  try {
    server = Bun.serve<SocketData>({
      hostname,
      port,
      idleTimeout: IDLE_CONNECTION_SECONDS,
      maxRequestBodySize: BUN_BODY_BACKSTOP,
      // Not async, and no closure for the peer: the path every request takes paid for both.
      fetch(request, bunServer) {
        bunServer.timeout(request, 0);
        // The peer address decides whether a keyless admin call comes from this machine.
        if (!isWebSocketUpgrade(request)) return gateway(request, new BunPeer(bunServer, request));
        return upgradeSocket(request, bunServer);
      },
      websocket: {
        // A message is buffered whole before it is read, so max_body_mb (as at start) bounds it here; a
        // larger one closes the socket with 1009. The POST it becomes is checked against the current limit.
        maxPayloadLength: holder.snapshot.proxy.body.maxBytes + MESSAGE_ENVELOPE_BYTES,
        // A Codex session can sit idle between turns; Bun's pings keep a live client's socket open.
        idleTimeout: WEBSOCKET_IDLE_SECONDS,
        sendPings: true,
        open(ws) {
          ws.data.socket = new ResponsesSocket(
            gateway,
            ws.data.upgrade,
            { send: (text) => void ws.send(text), close: (code, reason) => ws.close(code, reason) },
            log,
          );
          sockets.add(ws.data.socket);
        },
        message(ws, message) {
          ws.data.socket?.receive(typeof message === "string" ? message : new Uint8Array(message));
        },
        close(ws) {
          if (!ws.data.socket) return;
          ws.data.socket.closed();
          sockets.delete(ws.data.socket);
        },
      },
      error(error) {
        log.error(`unhandled error: ${error.stack ?? error}`);
        return new Response(
          JSON.stringify({
            error: {
              message: "levity hit an internal error.",
              type: "server_error",
              param: null,
              code: null,
            },
          }),
          {
            status: 500,
            headers: { "content-type": "application/json" },
          },
        );
      },
    });
    listeningPort = server.port;
  } catch (error) {
    void runtime.close();
    const code = (error as { code?: string }).code;
    if (code === "EADDRINUSE") throw new PortInUseError(hostname, port);
    throw error;
  }

  // Watched a moment after listening: the first requests waiting at start are served first
  // (setting up the watch took 2-5 ms of a start). A file saved before the watch begins is read
  // by the next change or SIGHUP, as one saved between reading it and listening always was.
  const watchers: FSWatcher[] = [];
  let stopping = false;
  const { watchFiles, dir } = options;
  const watching = new Promise<void>((resolve) => {
    setTimeout(() => {
      if (watchFiles && dir && !stopping)
        watchers.push(...watchConfigDir(dir, runtime.reload, log));
      resolve();
    }, AFTER_LISTENING_MS);
  });

  return {
    url: `http://${server.hostname}:${server.port}`,
    hostname: server.hostname ?? hostname,
    port: server.port ?? port,
    holder,
    shared: runtime.services.shared,
    watching,
    reload: runtime.reload,
    pendingRequests: () => server.pendingRequests,
    madeKeys: () => runtime.services.keys.usableMade(),
    async stop(drainMs = 60_000) {
      stopping = true;
      for (const watcher of watchers) watcher.close();
      for (const socket of sockets) socket.closeWhenIdle();
      const graceful = server.stop(false);
      let timer: Timer | undefined;
      const deadline = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), drainMs);
      });
      if ((await Promise.race([graceful, deadline])) === "timeout") {
        log.warn(`requests still in flight after ${drainMs / 1000} s; closing them`);
        await server.stop(true);
      }
      clearTimeout(timer);
      await runtime.close();
    },
  };
}

function watchConfigDir(
  dir: string,
  reload: (reason: string) => boolean,
  log: Logger,
): FSWatcher[] {
  let pending: Timer | undefined;
  const changed = new Set<string>();
  try {
    const watcher = watch(dir, (_event, filename) => {
      const name = filename?.toString();
      if (!name || !(CONFIG_FILES as readonly string[]).includes(name)) return;
      changed.add(name);
      // Editors write a file in several steps (truncate, write, rename); reload once they are done.
      clearTimeout(pending);
      pending = setTimeout(() => {
        const files = [...changed].join(", ");
        changed.clear();
        reload(`${files} changed`);
      }, 100);
    });
    return [watcher];
  } catch (error) {
    log.warn(
      `cannot watch ${dir} for changes (${(error as Error).message}); send SIGHUP to reload`,
    );
    return [];
  }
}

/**
 * The connection's address, asked of Bun only when a step needs it (a keyless admin call, a key
 * limited to networks): one object a request, where a closure over the request was two.
 */
class BunPeer implements HandleOptions {
  constructor(
    private readonly server: Server<SocketData>,
    private readonly request: Request,
  ) {}

  peer(): string | undefined {
    return this.server.requestIP(this.request)?.address;
  }
}
