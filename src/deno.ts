/*
 * levity on Deno: the same gateway handler, served by Deno.serve. Run it with
 *   deno run --allow-net --allow-read --allow-env --unstable-raw-imports src/deno.ts [--config DIR] [--port N]
 * The core (config, routing, translation, the pool, metrics) is web-standard and shared; what is
 * Bun's own stays out: state and the request log live in memory here (bun:sqlite is Bun's), and
 * there is no file watching, service install or build. The services and the reload are
 * createRuntime's, as on Bun.
 */
import { locateConfigDir } from "./config/locate.ts";
import { ConfigError, problemLines } from "./config/problem.ts";
import { isWebSocketUpgrade, WEBSOCKET_ADMITTED } from "./http/websocket.ts";
import { createLogger } from "./log.ts";
import { ResponsesSocket } from "./operations/responses-ws.ts";
import { createRuntime, type Runtime } from "./runtime.ts";
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
  ): { finished: Promise<void>; addr: { hostname: string; port: number } };
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
let runtime: Runtime;
try {
  runtime = createRuntime({
    dir: choice.dir,
    env,
    port,
    log,
    host: { env, listeningOn: () => `${served.addr.hostname}:${served.addr.port}` },
  });
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  // A line each: the log writes a line break inside a message as "\n".
  log.error("the configuration has problems:");
  for (const line of problemLines(error.problems)) log.error(line);
  Deno.exit(1);
}
const { gateway } = runtime;

const served = Deno.serve(
  {
    hostname: runtime.holder.snapshot.proxy.hostname,
    port: runtime.holder.snapshot.proxy.port,
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
  const address = info.remoteAddr.hostname;
  const admitted = await gateway(request, { websocket: true, peer: () => address });
  if (!admitted.headers.has(WEBSOCKET_ADMITTED)) return admitted;
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.binaryType = "arraybuffer";
  const session = new ResponsesSocket(
    gateway,
    { url: request.url, headers: new Headers(request.headers), address },
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
