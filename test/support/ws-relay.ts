/*
 * A WebSocket relay in front of levity that keeps every text message a client sends, so a test
 * can see what a client such as the Codex CLI puts on its WebSocket transport (which levity turns
 * into POSTs before its request log sees them). Plain HTTP requests are forwarded as they are.
 */

// Headers that belong to one hop of the connection, not to the request.
const HOP_HEADERS = new Set([
  "host",
  "connection",
  "upgrade",
  "content-length",
  "transfer-encoding",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
  "sec-websocket-protocol",
  "accept-encoding",
]);

interface Link {
  path: string;
  headers: Record<string, string>;
  upstream?: WebSocket;
  pending: string[];
}

export interface WsRelay {
  /** e.g. http://127.0.0.1:40123 */
  origin: string;
  /** Every text message clients sent, in order. */
  sent: string[];
  /** How many WebSocket connections clients opened. */
  connections(): number;
  stop(): Promise<void>;
}

export function wsRelay(target: string): WsRelay {
  const sent: string[] = [];
  let connections = 0;
  const links = new Set<Link>();
  const server = Bun.serve<Link>({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request, srv) {
      const url = new URL(request.url);
      const headers: Record<string, string> = {};
      request.headers.forEach((value, name) => {
        if (!HOP_HEADERS.has(name)) headers[name] = value;
      });
      if (request.headers.get("upgrade")?.toLowerCase() === "websocket") {
        if (
          srv.upgrade(request, { data: { path: url.pathname + url.search, headers, pending: [] } })
        )
          return undefined;
        return new Response("upgrade failed", { status: 400 });
      }
      const body =
        request.method === "GET" || request.method === "HEAD"
          ? undefined
          : await request.arrayBuffer();
      return fetch(target + url.pathname + url.search, { method: request.method, headers, body });
    },
    websocket: {
      open(ws) {
        connections++;
        const link = ws.data;
        links.add(link);
        const upstream = new WebSocket(target.replace(/^http/, "ws") + link.path, {
          headers: link.headers,
        } as unknown as string[]);
        link.upstream = upstream;
        upstream.onopen = () => {
          for (const text of link.pending.splice(0)) upstream.send(text);
        };
        upstream.onmessage = (event) =>
          ws.send(
            typeof event.data === "string" ? event.data : new Uint8Array(event.data as ArrayBuffer),
          );
        upstream.onclose = (event) =>
          ws.close(event.code === 1005 ? 1000 : event.code, event.reason);
        upstream.onerror = () => ws.close(1011, "relay: levity unreachable");
      },
      message(ws, message) {
        const text = typeof message === "string" ? message : new TextDecoder().decode(message);
        sent.push(text);
        const upstream = ws.data.upstream;
        if (upstream?.readyState === WebSocket.OPEN) upstream.send(text);
        else ws.data.pending.push(text);
      },
      close(ws) {
        links.delete(ws.data);
        ws.data.upstream?.close();
      },
    },
  });
  return {
    origin: `http://127.0.0.1:${server.port}`,
    sent,
    connections: () => connections,
    async stop() {
      for (const link of links) link.upstream?.close();
      await server.stop(true);
    },
  };
}
