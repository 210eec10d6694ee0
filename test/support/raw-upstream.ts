import { createServer, type Socket } from "node:net";

/*
 * An upstream at the TCP level, for the failures an HTTP server cannot script: resets before,
 * inside and after the headers, bodies that stop, bytes that are not HTTP at all. Each request
 * is read whole, then handed with its socket to the script, which writes what it likes.
 */

export interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** The head as it came, names in the sender's own case and order. */
  raw: string;
}

export type RawScript = (request: RawRequest, socket: Socket) => void;

export interface RawUpstream {
  url: string;
  /** Connections accepted, and how many of them are still open. */
  accepted(): number;
  open(): number;
  stop(): Promise<void>;
}

function parseHead(head: string): Omit<RawRequest, "body" | "raw"> {
  const [requestLine = "", ...lines] = head.split("\r\n");
  const [method = "", path = ""] = requestLine.split(" ");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0)
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { method, path, headers };
}

export async function rawUpstream(script: RawScript): Promise<RawUpstream> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let buffer = Buffer.alloc(0);
    // Clients keep connections alive: every request on the socket is read and scripted in turn.
    socket.on("data", (data: Buffer) => {
      buffer = Buffer.concat([buffer, data]);
      for (;;) {
        const end = buffer.indexOf("\r\n\r\n");
        if (end < 0) return;
        const raw = buffer.subarray(0, end).toString("latin1");
        const head = parseHead(raw);
        const length = Number(head.headers["content-length"] ?? 0);
        if (buffer.length < end + 4 + length) return;
        const body = buffer.subarray(end + 4, end + 4 + length).toString("utf8");
        buffer = buffer.subarray(end + 4 + length);
        script({ ...head, body, raw }, socket);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    accepted: () => accepted,
    open: () => sockets.size,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A complete HTTP/1.1 response with a Content-Length. */
export function httpResponse(
  status: number,
  body: string,
  contentType = "application/json",
  extra = "",
): string {
  return `HTTP/1.1 ${status} X\r\ncontent-type: ${contentType}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

/** The head of a chunked event stream; follow it with sseChunk() writes. */
export const SSE_HEAD =
  "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";

/** One HTTP chunk carrying `text`. */
export function sseChunk(text: string): string {
  return `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
}

export const LAST_CHUNK = "0\r\n\r\n";
