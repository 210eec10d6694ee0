// The floor levity is measured against: parse the JSON, rewrite the model, forward, pipe back.
const upstream = process.env.UPSTREAM_URL!;
const server = Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: "127.0.0.1",
  idleTimeout: 0,
  async fetch(request) {
    const body = (await request.json()) as { model?: string };
    body.model = "bench-model";
    const answer = await fetch(upstream + new URL(request.url).pathname, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer sk-upstream-bench" },
      body: JSON.stringify(body),
    });
    return new Response(answer.body, {
      status: answer.status,
      headers: { "content-type": answer.headers.get("content-type") ?? "application/json" },
    });
  },
});
console.log(`listening ${server.port}`);
export {};
