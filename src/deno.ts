/*
 * levity on Deno: the same gateway handler, served by Deno.serve. Run it with
 *   deno run --allow-net --allow-read --allow-env --unstable-raw-imports src/deno.ts [--config DIR] [--port N]
 * The core (config, routing, translation, the pool, metrics) is web-standard and shared; what is
 * Bun's own stays out: state and the request log live in memory here (bun:sqlite is Bun's), and
 * there is no file watching, service install or build.
 */
import { loadConfig } from "./config/load.ts";
import { locateConfigDir } from "./config/locate.ts";
import { ConfigError, formatProblem } from "./config/problem.ts";
import { createGateway, WEBSOCKET_ADMITTED, type SnapshotHolder } from "./http/gateway.ts";
import { isWebSocketUpgrade } from "./http/websocket.ts";
import { createLogger } from "./log.ts";
import { GatewayMetrics } from "./observe/gateway-metrics.ts";
import { ResponsesSocket } from "./operations/responses-ws.ts";
import { memoryRequestLog } from "./observe/request-log.ts";
import { AccountPool } from "./pool/pool.ts";
import { memoryStore } from "./state/store.ts";
import { ModelCatalog } from "./upstream/model-catalog.ts";
import { VERSION } from "./version.ts";

/** The little of Deno's API this entry uses (bun-types does not declare it). */
declare const Deno: {
  args: string[];
  cwd(): string;
  env: { toObject(): Record<string, string> };
  exit(code: number): never;
  serve(
    options: {
      hostname: string;
      port: number;
      onListen?: (address: { hostname: string; port: number }) => void;
    },
    handler: (request: Request, info: { remoteAddr: { hostname: string } }) => Promise<Response>,
  ): { finished: Promise<void> };
  upgradeWebSocket(request: Request): { socket: WebSocket; response: Response };
};

function flag(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

const log = createLogger();
const env = Deno.env.toObject();
const choice = locateConfigDir({ flag: flag("config"), env, cwd: Deno.cwd() });
if (choice.problem) {
  log.error(choice.problem);
  Deno.exit(1);
}
const port = flag("port") === undefined ? undefined : Number(flag("port"));
let holder: SnapshotHolder;
try {
  holder = { snapshot: loadConfig({ dir: choice.dir, env, port }) };
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  log.error(
    `the configuration has problems:\n${error.problems.map((p) => `  ${formatProblem(p)}`).join("\n")}`,
  );
  Deno.exit(1);
}

const store = memoryStore();
const gateway = createGateway(holder, {
  log,
  catalog: new ModelCatalog(log),
  version: VERSION,
  store,
  pool: new AccountPool(store, log),
  requestLog: memoryRequestLog(),
  metrics: new GatewayMetrics(VERSION),
  startedAt: Date.now(),
  reload: (reason) => {
    try {
      holder.snapshot = loadConfig({ dir: choice.dir, env, port });
      log.info(`config reloaded (${reason})`);
      return holder.snapshot;
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      log.error(`config reload (${reason}) failed; the previous configuration keeps serving`);
      return undefined;
    }
  },
});

const { hostname } = holder.snapshot.proxy;
Deno.serve(
  {
    hostname,
    port: holder.snapshot.proxy.port,
    onListen: (address) =>
      console.log(
        `levity ${VERSION} (Deno) listening on http://${address.hostname}:${address.port}`,
      ),
  },
  serve,
);

/** The gateway, and Codex's Responses WebSocket: admitted as a POST on its path would be, then one ResponsesSocket per connection. */
async function serve(
  request: Request,
  info: { remoteAddr: { hostname: string } },
): Promise<Response> {
  // The peer address decides whether a keyless admin call comes from this machine.
  if (!isWebSocketUpgrade(request))
    return gateway(request, { peer: () => info.remoteAddr.hostname });
  const admitted = await gateway(request, { websocket: true });
  if (!admitted.headers.has(WEBSOCKET_ADMITTED)) return admitted;
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.binaryType = "arraybuffer";
  const session = new ResponsesSocket(
    gateway,
    { url: request.url, headers: new Headers(request.headers) },
    {
      send: (text) => {
        if (socket.readyState === WebSocket.OPEN) socket.send(text);
      },
      close: (code, reason) => socket.close(code, reason),
    },
    log,
  );
  socket.onmessage = (event) =>
    session.receive(
      typeof event.data === "string" ? event.data : new Uint8Array(event.data as ArrayBuffer),
    );
  socket.onclose = () => session.closed();
  return response;
}
