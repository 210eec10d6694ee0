import type { RawExchange } from "./fixture.ts";

/*
 * A recording pass-through on loopback in front of a fake upstream: the CLI talks to it as to its
 * provider, it forwards each request unchanged to the fake and streams the answer back as it
 * comes, keeping the request as the CLI sent it and the answer as the CLI received it. The fakes
 * record requests but not their answers; a proxy keeps both without touching the fakes.
 */

/** Not forwarded: they describe this connection, and the fake must answer uncompressed. */
const NOT_FORWARDED = ["host", "content-length", "connection", "accept-encoding"];

export interface RecordingProxy {
  url: string;
  /** Completed exchanges, in the order the requests arrived. */
  exchanges(): Promise<RawExchange[]>;
  stop(): Promise<void>;
}

export function recordingProxy(upstream: string): RecordingProxy {
  const pending: Promise<RawExchange>[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(request) {
      // The slot is taken on arrival, so the exchanges keep the order the CLI sent them in.
      let settle!: (exchange: RawExchange) => void;
      pending.push(new Promise<RawExchange>((resolve) => (settle = resolve)));
      const url = new URL(request.url);
      const path = url.pathname + url.search;
      const bytes = request.method === "GET" ? new Uint8Array(0) : await request.bytes();
      const headers: [string, string][] = [...request.headers];
      const forwarded = new Headers(request.headers);
      for (const name of NOT_FORWARDED) forwarded.delete(name);
      const bodyText = new TextDecoder().decode(bytes);
      let answer: Response;
      try {
        answer = await fetch(upstream + path, {
          method: request.method,
          headers: forwarded,
          body: bytes.byteLength > 0 ? bytes : undefined,
        });
      } catch (error) {
        // The fake is ours and on loopback: this is the recorder's fault, recorded as such.
        const responseText = `recording proxy: ${String(error)}`;
        settle({
          method: request.method,
          path,
          headers,
          bodyText,
          status: 502,
          contentType: "text/plain",
          responseText,
        });
        return new Response(responseText, { status: 502 });
      }
      const [toClient, toRecord] = answer.body
        ? answer.body.tee()
        : [null, null as ReadableStream<Uint8Array> | null];
      const base = {
        method: request.method,
        path,
        headers,
        bodyText,
        status: answer.status,
        contentType: answer.headers.get("content-type") ?? "",
      };
      void (toRecord ? new Response(toRecord).text() : Promise.resolve("")).then(
        (responseText) => settle({ ...base, responseText }),
        () => settle({ ...base, responseText: "" }),
      );
      const headersOut = new Headers(answer.headers);
      headersOut.delete("content-encoding");
      headersOut.delete("content-length");
      return new Response(toClient, { status: answer.status, headers: headersOut });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    exchanges: () => Promise.all(pending),
    async stop() {
      await server.stop(true);
    },
  };
}
