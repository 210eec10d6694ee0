/** A request asking to become a WebSocket: GET with `Upgrade: websocket` (any case, as RFC 6455 allows). */
export function isWebSocketUpgrade(request: Request): boolean {
  return request.method === "GET" && request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/** The header on the answer to an admitted WebSocket upgrade; the host then upgrades the connection. */
export const WEBSOCKET_ADMITTED = "x-levity-websocket";
