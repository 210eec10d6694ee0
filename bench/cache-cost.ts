/*
 * bun bench/cache-cost.ts [--iterations N]
 *
 * What one step of a translated request costs in a loop, and in a loop that touches other memory
 * between iterations as a served request's neighbours do. The step is levity's own: an OpenAI
 * client's chat request made the IR and a Gemini request (src/codecs), the Gemini answer read and
 * rendered as a chat completion, and the two bodies serialised (JSON.stringify, the part timed,
 * on objects made fresh each iteration). Between iterations the loop writes one byte in every
 * 64 of a buffer of 0 to 8 MB, evicting that much of the processor's caches; the machine's cache
 * sizes are printed beside. BENCHMARKS.md (sixteenth session) compares these with the same two
 * calls timed in place inside levity serving at c=64.
 */
import { parseArgs } from "node:util";
import type { UpstreamTarget } from "../src/codecs/codec.ts";
import { CLIENT_CODECS, UPSTREAM_CODECS } from "../src/codecs/index.ts";
import { GEMINI_ANSWER, GEMINI_REQUEST } from "./bodies.ts";

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: { iterations: { type: "string", default: "20000" } },
});
const ITERATIONS = Number(flags.iterations);

// The bench's own request and the fake upstream's answer, as text (bench/bodies.ts).
const requestText = GEMINI_REQUEST;
const answerText = GEMINI_ANSWER;
const target: UpstreamTarget = {
  name: "gm",
  issuer: "gm",
  protocol: "gemini",
  baseUrl: "http://127.0.0.1",
  apiVersion: undefined,
  compat: undefined,
  promptCache: undefined,
};
const client = CLIENT_CODECS["openai-chat"];
const upstream = UPSTREAM_CODECS.gemini;

const evicted = new Uint8Array(8 * 1024 * 1024);
let kept = 0;

/** µs a call of each JSON.stringify, with `bytes` of other memory written between iterations. */
async function measure(bytes: number): Promise<{ request: number; answer: number }> {
  let requestMs = 0;
  let answerMs = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const request = client.parseRequest(JSON.parse(requestText), "gemini-bench", false);
    const built = await upstream.buildRequest(request, target);
    const response = upstream.parseResponse(JSON.parse(answerText), target);
    const rendered = client.renderResponse(response, {
      request,
      includeUsage: false,
      framing: "sse",
    });
    for (let at = 0; at < bytes; at += 64) evicted[at]! += 1;
    let started = performance.now();
    kept += JSON.stringify(built.body).length;
    requestMs += performance.now() - started;
    started = performance.now();
    kept += JSON.stringify(rendered).length;
    answerMs += performance.now() - started;
  }
  return { request: (requestMs * 1000) / ITERATIONS, answer: (answerMs * 1000) / ITERATIONS };
}

const caches = Bun.spawnSync(["lscpu"])
  .stdout.toString()
  .split("\n")
  .filter((line) => /cache/i.test(line));
console.log(caches.map((line) => line.replace(/\s+/g, " ").trim()).join("; "));
// Once unmeasured, so every function has been compiled before the first row.
await measure(0);
console.log("| memory written between iterations | the Gemini request | the chat completion |");
console.log("|---|---|---|");
for (const bytes of [0, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024, 8 * 1024 * 1024]) {
  const { request, answer } = await measure(bytes);
  console.log(`| ${bytes / 1024} KB | ${request.toFixed(2)} µs | ${answer.toFixed(2)} µs |`);
}
if (kept === 0) console.log("(nothing serialised)");
