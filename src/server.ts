import { watch, type FSWatcher } from "node:fs";
import { join } from "node:path";
import { loadConfig, type LoadOptions } from "./config/load.ts";
import { CONFIG_FILES } from "./config/locate.ts";
import { ConfigError, formatProblem } from "./config/problem.ts";
import type { ConfigSnapshot } from "./config/snapshot.ts";
import { describeSnapshot } from "./config/describe.ts";
import { createGateway, WEBSOCKET_ADMITTED, type SnapshotHolder } from "./http/gateway.ts";
import { isWebSocketUpgrade } from "./http/websocket.ts";
import { ResponsesSocket } from "./operations/responses-ws.ts";
import type { Logger } from "./log.ts";
import { GatewayMetrics } from "./observe/gateway-metrics.ts";
import { memoryRequestLog, type RequestLog } from "./observe/request-log.ts";
import { openSqliteRequestLog } from "./observe/sqlite-request-log.ts";
import { AccountPool } from "./pool/pool.ts";
import { openSqliteStore } from "./state/sqlite-store.ts";
import { memoryStore, type StateStore } from "./state/store.ts";
import { ModelCatalog } from "./upstream/model-catalog.ts";
import { VERSION } from "./version.ts";

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
  /** Re-reads the config; a broken file keeps the current one serving. Returns whether it was applied. */
  reload(reason: string): boolean;
  /** Stops accepting connections, lets requests in flight finish (up to `drainMs`), then closes. */
  stop(drainMs?: number): Promise<void>;
  pendingRequests(): number;
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

/** Loads the configuration and serves it; throws ConfigError or PortInUseError without serving. */
export function startServer(options: StartOptions): RunningServer {
  const { log } = options;
  const holder: SnapshotHolder = { snapshot: loadConfig(options) };
  const store = openStore(holder.snapshot.proxy.dataDir, log);
  const pool = new AccountPool(store, log);
  const requestLog = openRequestLog(holder.snapshot, log);
  const metrics = new GatewayMetrics(VERSION);
  const gateway = createGateway(holder, {
    log,
    catalog: new ModelCatalog(log),
    version: VERSION,
    store,
    pool,
    requestLog,
    metrics,
    startedAt: Date.now(),
    reload: options.dir ? (reason) => (reload(reason) ? holder.snapshot : undefined) : undefined,
  });
  const { hostname, port } = holder.snapshot.proxy;

  // Open Responses WebSockets: a stop closes the idle ones rather than waiting out the drain for them.
  const sockets = new Set<ResponsesSocket>();
  let server: ReturnType<typeof Bun.serve<SocketData>>;
  try {
    server = Bun.serve<SocketData>({
      hostname,
      port,
      idleTimeout: IDLE_CONNECTION_SECONDS,
      maxRequestBodySize: BUN_BODY_BACKSTOP,
      async fetch(request, bunServer) {
        bunServer.timeout(request, 0);
        // The peer address decides whether a keyless admin call comes from this machine.
        if (!isWebSocketUpgrade(request))
          return gateway(request, { peer: () => bunServer.requestIP(request)?.address });
        // Admitted exactly as a POST on the same path would be; a refusal is an ordinary HTTP error.
        const admitted = await gateway(request, { websocket: true });
        if (!admitted.headers.has(WEBSOCKET_ADMITTED)) return admitted;
        const upgrade = { url: request.url, headers: new Headers(request.headers) };
        if (
          bunServer.upgrade(request, {
            data: { upgrade },
            headers: { "x-request-id": admitted.headers.get("x-request-id") ?? "" },
          })
        )
          return undefined;
        return new Response("WebSocket upgrade failed", { status: 400 });
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
  } catch (error) {
    store.close();
    requestLog.close();
    const code = (error as { code?: string }).code;
    if (code === "EADDRINUSE") throw new PortInUseError(hostname, port);
    throw error;
  }

  const reload = (reason: string): boolean => {
    let next: ConfigSnapshot;
    try {
      next = loadConfig(options);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      log.error(
        `config reload (${reason}) failed; the previous configuration keeps serving:\n${error.problems.map((p) => `  ${formatProblem(p)}`).join("\n")}`,
      );
      return false;
    }
    const previous = holder.snapshot.proxy;
    if (next.proxy.port !== previous.port || next.proxy.hostname !== previous.hostname) {
      log.warn(
        `port and bind address changes need a restart; still listening on ${server.hostname}:${server.port}`,
      );
    }
    if (next.proxy.dataDir !== previous.dataDir)
      log.warn(`a data_dir change needs a restart; state stays in ${previous.dataDir}`);
    const { retentionMs, maxBytes, flushMs } = next.proxy.requestLog;
    const before = previous.requestLog;
    if (
      retentionMs !== before.retentionMs ||
      maxBytes !== before.maxBytes ||
      flushMs !== before.flushMs
    ) {
      log.warn(
        "request_log retention_days, max_mb and flush_ms changes need a restart; enabled and log_bodies apply now",
      );
    }
    holder.snapshot = next;
    log.info(`config reloaded (${reason}): ${describeSnapshot(next)}`);
    return true;
  };

  const watchers =
    options.watchFiles && options.dir ? watchConfigDir(options.dir, reload, log) : [];

  return {
    url: `http://${server.hostname}:${server.port}`,
    hostname: server.hostname ?? hostname,
    port: server.port ?? port,
    holder,
    reload,
    pendingRequests: () => server.pendingRequests,
    async stop(drainMs = 60_000) {
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
      store.close();
      requestLog.close();
    },
  };
}

/** SQLite in the data directory; if it cannot be opened, state lives in memory and the log says so. */
function openStore(dataDir: string, log: Logger): StateStore {
  const path = join(dataDir, "levity.db");
  try {
    return openSqliteStore(path);
  } catch (error) {
    log.warn(
      `cannot open ${path} (${(error as Error).message}); stored responses and signatures will not survive a restart`,
    );
    return memoryStore();
  }
}

/** The request log beside the state, in its own file; in memory (and said so) if that cannot be opened. */
function openRequestLog(snapshot: ConfigSnapshot, log: Logger): RequestLog {
  const settings = snapshot.proxy.requestLog;
  const path = join(snapshot.proxy.dataDir, "requests.db");
  try {
    return openSqliteRequestLog({
      path,
      flushMs: settings.flushMs,
      retentionMs: settings.retentionMs,
      maxBytes: settings.maxBytes,
      log,
    });
  } catch (error) {
    log.warn(
      `cannot open ${path} (${(error as Error).message}); the request log keeps only the last 10,000 requests, in memory`,
    );
    return memoryRequestLog();
  }
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
