import { connect, createServer, type Socket } from "node:net";

/*
 * A TCP front for one instance's connections to a server (Redis), that can be cut and healed: a
 * network partition between that instance and the server while the others still reach it. Cut,
 * its open connections are reset and new ones are closed as they arrive.
 */
export interface CuttableFront {
  url: string;
  cut(): void;
  heal(): void;
  stop(): Promise<void>;
}

export async function cuttableFront(targetUrl: string): Promise<CuttableFront> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  let isCut = false;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
  };
  const server = createServer((client) => {
    track(client);
    if (isCut) {
      client.resetAndDestroy();
      return;
    }
    client.pause();
    const upstream = connect(Number(target.port), target.hostname, () => {
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    track(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end);
    upstream.on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  const url = new URL(targetUrl);
  url.port = String(port);
  return {
    url: url.toString().replace(/\/$/, ""),
    cut() {
      isCut = true;
      for (const socket of sockets) socket.resetAndDestroy();
    },
    heal() {
      isCut = false;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
