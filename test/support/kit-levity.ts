import { createServer } from "node:net";
import type { Dialect } from "../../kit/src/dialect.ts";
import { baseUrlOf, type Fakes } from "../../kit/src/fakes/server.ts";
import { levityConfig } from "../../kit/src/recipes.ts";
import { type ConfigFiles, startGateway, type TestGateway } from "./gateway.ts";

/*
 * A real levity configured the way the kit's README tells an operator to: one upstream per fake
 * of the conformance kit, each kit model name mapped to its own fake.
 */

export function levityFilesForKit(fakes: Fakes, extraProxy = ""): ConfigFiles {
  const urls = Object.fromEntries(
    Object.values(fakes).map((fake) => [fake.dialect, baseUrlOf(fake)]),
  ) as Record<Dialect, string>;
  const config = levityConfig(urls);
  return { gateway: `${extraProxy}${config.gateway}`, mappings: config.mappings };
}

export function levityForKit(fakes: Fakes, extraProxy = ""): TestGateway {
  return startGateway(levityFilesForKit(fakes, extraProxy));
}

/**
 * The first of `count` consecutive loopback ports free right now, for a process that takes a port
 * base (the packed kit's --upstream-port-base) rather than one the OS chose.
 */
export async function freePortRun(count: number): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((done) => {
      const server = createServer();
      server.once("error", () => done(false));
      server.listen(port, "127.0.0.1", () => server.close(() => done(true)));
    });
  for (let base = 40_000 + Math.floor(Math.random() * 20_000); ; base += count) {
    const ports = await Promise.all(Array.from({ length: count }, (_, i) => free(base + i)));
    if (ports.every(Boolean)) return base;
  }
}

/**
 * A stand-in gateway in front of `origin` that changes each JSON request body before passing it
 * on: a defect of the kind the kit must catch.
 */
export function mutatingProxy(
  origin: string,
  mutate: (body: Record<string, any>) => void,
): { origin: string; stop(): void } {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const url = new URL(request.url);
      let body = await request.text();
      try {
        const json = JSON.parse(body);
        mutate(json);
        body = JSON.stringify(json);
      } catch {
        // Not JSON: passed on as it came.
      }
      const headers = new Headers(request.headers);
      headers.delete("host");
      headers.delete("content-length");
      const answer = await fetch(`${origin}${url.pathname}${url.search}`, {
        method: request.method,
        headers,
        body: request.method === "GET" || request.method === "HEAD" ? undefined : body,
      });
      const back = new Headers(answer.headers);
      back.delete("content-encoding");
      back.delete("content-length");
      return new Response(answer.body, { status: answer.status, headers: back });
    },
  });
  return { origin: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true) };
}

/** A gateway that drops every request's tools. */
export const toolDroppingProxy = (origin: string) =>
  mutatingProxy(origin, (body) => {
    delete body.tools;
  });

/** A gateway that drops the signature of every Anthropic thinking block it is sent. */
export const signatureDroppingProxy = (origin: string) =>
  mutatingProxy(origin, (body) => {
    for (const message of Array.isArray(body.messages) ? body.messages : [])
      for (const block of Array.isArray(message?.content) ? message.content : [])
        if (block?.type === "thinking") delete block.signature;
  });
