/*
 * The streaming load: STREAMS concurrent streaming chat requests to URL, each read to its end.
 * For each: time to its first content chunk, and its content chunks t0..tN-1 checked for count
 * and order. Prints one JSON line: TTFT percentiles, chunks per second over the whole run,
 * streams lost (wrong count, no [DONE], an error) and reordered.
 * Usage: bun bench/stream-load.ts URL STREAMS EXPECTED_CHUNKS [HEADER: value ...]
 * With RAMP_MS, the streams start spread evenly over that long instead of all at once (and
 * INTERVAL_MS asks the upstream to space its chunks), so that many are open together while each
 * one's time to first token is measured, rather than the time to set up a thousand at once.
 * Run with BUN_CONFIG_MAX_HTTP_REQUESTS above STREAMS (Bun's fetch allows 256 at once by default).
 */
const [url, streamsArg, expectedArg, ...headerArgs] = process.argv.slice(2);
const streams = Number(streamsArg);
const expected = Number(expectedArg);
const headers: Record<string, string> = { "content-type": "application/json" };
for (const h of headerArgs) {
  const i = h.indexOf(":");
  headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
}
const rampMs = Number(process.env.RAMP_MS ?? 0);
const body = JSON.stringify({
  model: "bench-model",
  stream: true,
  messages: [{ role: "user", content: "stream" }],
  ...(process.env.INTERVAL_MS ? { user: `interval-${process.env.INTERVAL_MS}` } : {}),
});
const decoder = new TextDecoder();

async function one(
  _: unknown,
  index: number,
): Promise<{ ttft: number; chunks: number; ordered: boolean; done: boolean; error?: string }> {
  if (rampMs > 0) await Bun.sleep((index * rampMs) / streams);
  const started = performance.now();
  let ttft = -1;
  let next = 0;
  let ordered = true;
  let done = false;
  let buffer = "";
  try {
    const response = await fetch(url!, { method: "POST", headers, body });
    if (!response.ok || !response.body)
      return { ttft, chunks: 0, ordered, done, error: `status ${response.status}` };
    for await (const bytes of response.body) {
      buffer += decoder.decode(bytes, { stream: true });
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (event.includes("[DONE]")) done = true;
        const match = /"content":"t(\d+) /.exec(event);
        if (match) {
          if (ttft < 0) ttft = performance.now() - started;
          if (Number(match[1]) !== next) ordered = false;
          next++;
        }
      }
    }
  } catch (error) {
    return { ttft, chunks: next, ordered, done, error: (error as Error).message };
  }
  return { ttft, chunks: next, ordered, done };
}

const started = performance.now();
const results = await Promise.all(Array.from({ length: streams }, one));
const seconds = (performance.now() - started) / 1000;
const ttfts = results
  .filter((r) => r.ttft >= 0)
  .map((r) => r.ttft)
  .sort((a, b) => a - b);
const pct = (p: number) =>
  ttfts[Math.min(ttfts.length - 1, Math.floor((p / 100) * ttfts.length))] ?? -1;
const chunks = results.reduce((t, r) => t + r.chunks, 0);
const errors = [...new Set(results.filter((r) => r.error).map((r) => r.error))].slice(0, 3);
console.log(
  JSON.stringify({
    streams,
    seconds,
    ttftP50ms: pct(50),
    ttftP99ms: pct(99),
    chunks,
    chunksPerSecond: chunks / seconds,
    lost: results.filter((r) => r.chunks !== expected || !r.done || r.error).length,
    reordered: results.filter((r) => !r.ordered).length,
    errors,
  }),
);
export {};
