import { connect } from "node:net";

/*
 * A client at the TCP level, for requests fetch would normalise or refuse to send: path tricks,
 * duplicated headers, oversized heads, bytes that are not HTTP.
 */

/** Writes `bytes` and resolves with the status and the whole answer, once it is complete or the gateway closes. */
export function rawRequest(port: number, bytes: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    const done = () => resolve({ status: Number(text.slice(9, 12)), text });
    socket.on("data", (data) => {
      text += data.toString("latin1");
      const head = text.indexOf("\r\n\r\n");
      if (head < 0) return;
      const headers = text.slice(0, head);
      const length = /content-length: (\d+)/i.exec(headers)?.[1];
      const complete =
        bytes.startsWith("HEAD ") ||
        (length !== undefined
          ? text.length >= head + 4 + Number(length)
          : /transfer-encoding: chunked/i.test(headers)
            ? text.endsWith("\r\n0\r\n\r\n")
            : /^HTTP\/1.1 (1\d\d|204|304)/.test(text));
      // The connection may be kept alive: one complete answer is enough.
      if (complete) {
        socket.destroy();
        done();
      }
    });
    socket.on("close", done);
    socket.on("error", () => {});
    socket.write(bytes);
  });
}
