/*
 * bun scripts/fake-upstreams.ts
 *
 * levity in front of scripted fake upstreams, every model name mapped to the upstream named by
 * LEVITY_TRY_UPSTREAM (openai, anthropic, gemini or echo; default openai), for trying a client by
 * hand. Prints the origin; the client key is sk-try-the-clients. LEVITY_TRY_DUMP=DIR keeps every
 * request body the upstreams receive. A development tool; not part of the product.
 */
import { startTryGateway } from "./try-gateway.ts";

const upstream = process.env.LEVITY_TRY_UPSTREAM ?? "openai";
const running = startTryGateway(upstream);
console.log(`${running.origin} -> ${upstream}`);
const flush = setInterval(() => {
  for (const line of running.gateway.log.lines.splice(0)) console.error(line);
  for (const [name, fake] of Object.entries(running.fakes)) {
    for (const request of fake.requests.splice(0)) {
      console.error(`upstream ${name} ${request.method} ${request.path}`);
      if (process.env.LEVITY_TRY_DUMP)
        Bun.write(`${process.env.LEVITY_TRY_DUMP}/${Date.now()}-${name}.json`, request.text);
    }
  }
}, 200);
process.on("SIGTERM", async () => {
  clearInterval(flush);
  await running.stop();
  process.exit(0);
});
