import { connect, createServer, type Socket } from "node:net";

/*
 * A TCP front for one instance's connections to a server (Redis), that can be cut and healed: a
 * network partition between that instance and the server while the others still reach it. Cut,
 * its open connections are reset and new ones are closed as they arrive. With a lag (`lagMs`, or
 * `lag()` at any time), what the instance sends reaches the server that much later (a far or
 * stalled server), its bytes still in order.
 */
export interface CuttableFront {
  url: string;
  cut(): void;
  heal(): void;
  /** From now on, what the instance sends is held this long first. */
  lag(ms: number): void;
  stop(): Promise<void>;
}

export async function cuttableFront(targetUrl: string, lagMs = 0): Promise<CuttableFront> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  let isCut = false;
  let lag = lagMs;
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
      // Each chunk is due no sooner than the one before it, so a lag made shorter keeps the order.
      let lastDue = 0;
      client.on("data", (chunk) => {
        const now = Date.now();
        const due = Math.max(now + lag, lastDue);
        lastDue = due;
        if (due <= now) upstream.write(chunk);
        else setTimeout(() => upstream.write(chunk), due - now);
      });
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
    lag(ms) {
      lag = ms;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
