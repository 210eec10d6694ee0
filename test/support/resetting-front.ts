import { connect, createServer, type Socket } from "node:net";

/*
 * A TCP front for a fake upstream that resets the connection of any request whose head matches,
 * before a byte of answer: the "connection reset by peer" an HTTP server cannot script. Other
 * connections are piped to the fake unchanged.
 */
export interface ResettingFront {
  url: string;
  /** How many connections were reset. */
  resets(): number;
  stop(): Promise<void>;
}

export async function resettingFront(
  targetUrl: string,
  resetWhen: (head: string) => boolean,
): Promise<ResettingFront> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  let resets = 0;
  const server = createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => {});
    let head = Buffer.alloc(0);
    const inspect = (data: Buffer) => {
      head = Buffer.concat([head, data]);
      if (!head.includes("\r\n\r\n")) return;
      client.off("data", inspect);
      if (resetWhen(head.toString("latin1"))) {
        resets++;
        client.resetAndDestroy();
        return;
      }
      const upstream = connect(Number(target.port), target.hostname, () => {
        upstream.write(head);
        client.pipe(upstream);
        upstream.pipe(client);
      });
      sockets.add(upstream);
      upstream.on("close", () => sockets.delete(upstream));
      upstream.on("error", () => client.destroy());
    };
    client.on("data", inspect);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string")
    throw new Error("the resetting front has no port");
  return {
    url: `http://127.0.0.1:${address.port}`,
    resets: () => resets,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
