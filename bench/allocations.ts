/*
 * bun bench/allocations.ts [--requests N]
 *
 * The objects levity allocates per request, by type, counted rather than timed: levity runs from
 * source with JavaScriptCore's collector off (BUN_JSC_useGC=0), so every object a request makes
 * stays on the heap, and the heap's object counts (bench/allocation-counter.ts, on SIGUSR2) are
 * read before and after N requests made one at a time. The machine's load does not move these
 * numbers, which makes them the measure of a change to the request path's allocation (the
 * collections they cause are the c=1 latency tail: BENCHMARKS.md). In front of
 * bench/fake-upstream.ts, with auth, the request log and metrics on, as a user runs it. The
 * reference proxy and the floor proxy (bench/floor-proxy.ts: the same work levity cannot skip,
 * done as leanly as Bun allows) are counted the same way, kind by kind, beside levity.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const ROOT = resolve(import.meta.dir, "..");
const BUN = process.execPath;
const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: { requests: { type: "string", default: "2000" } },
});
const REQUESTS = Number(flags.requests);
const KEY = "sk-bench-allocations-client";

const children: ReturnType<typeof Bun.spawn>[] = [];
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/** A child whose stdout and stderr are read line by line as they come. */
function spawn(argv: string[], env: Record<string, string>) {
  const proc = Bun.spawn(argv, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  children.push(proc);
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve(match: RegExpExecArray): void }[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of stream) {
      buffered += decoder.decode(chunk, { stream: true });
      let end = buffered.indexOf("\n");
      while (end >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        lines.push(line);
        for (const waiter of [...waiters]) {
          const match = waiter.pattern.exec(line);
          if (match) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve(match);
          }
        }
        end = buffered.indexOf("\n");
      }
    }
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>);
  void pump(proc.stderr as ReadableStream<Uint8Array>);
  const next = (pattern: RegExp) =>
    new Promise<RegExpExecArray>((resolve) => waiters.push({ pattern, resolve }));
  return { proc, next };
}

const upstream = spawn([BUN, join(import.meta.dir, "fake-upstream.ts")], {});
const upstreamPort = (await upstream.next(/listening (\d+)/))[1];
const dir = mkdtempSync(join(tmpdir(), "levity-allocations-"));
writeFileSync(
  join(dir, "gateway.yaml"),
  `proxy:\n  port: 0\n  auth_mode: strict\n  api_key: ${KEY}\nupstreams:\n` +
    // It serves Responses too (bench/fake-upstream.ts streams them), so a Responses client's
    // stream is forwarded, not translated through chat.
    `  - name: oa\n    protocol: openai\n    base_url: http://127.0.0.1:${upstreamPort}/v1\n    apis: [chat, responses]\n    accounts:\n      - { name: bench, key: sk-upstream-bench-0001 }\n` +
    `  - name: gm\n    protocol: gemini\n    base_url: http://127.0.0.1:${upstreamPort}\n    accounts:\n      - { name: bench, key: gm-upstream-bench-0001 }\n`,
);
writeFileSync(
  join(dir, "mappings.yaml"),
  "exact:\n  bench-model: oa/bench-model\n  gem-model: gm/gemini-bench\n  claude-bench: oa/bench-model\n",
);
const levity = spawn(
  [
    BUN,
    "--preload",
    join(import.meta.dir, "allocation-counter.ts"),
    "src/main.ts",
    "serve",
    "--config",
    dir,
  ],
  { BUN_JSC_useGC: "0" },
);
const origin = (await levity.next(/listening on (http:\/\/[\d.:]+)/))[1]!;

// The 20-line reference proxy and the floor proxy (the reference doing the work levity cannot
// skip: bench/floor-proxy.ts), counted the same way.
const counted = async (script: string, env: Record<string, string>) => {
  const proc = spawn(
    [
      BUN,
      "--preload",
      join(import.meta.dir, "allocation-counter.ts"),
      join(import.meta.dir, script),
    ],
    { BUN_JSC_useGC: "0", UPSTREAM_URL: `http://127.0.0.1:${upstreamPort}`, ...env },
  );
  return { proc, origin: `http://127.0.0.1:${(await proc.next(/listening (\d+)/))[1]}` };
};
const reference = await counted("reference-proxy.ts", {});
const floor = await counted("floor-proxy.ts", {
  CLIENT_KEY: KEY,
  REQUEST_LOG: join(dir, "floor-requests.db"),
});
const levityTarget = { proc: levity, origin };

const prompt = [{ role: "user", content: "Say hello to the benchmark, briefly." }];
const openai = { authorization: `Bearer ${KEY}` };
const anthropic = { "x-api-key": KEY, "anthropic-version": "2023-06-01" };
const chatRequest = { model: "bench-model", messages: prompt, max_tokens: 64 };
/** One kind of request, counted over `requests` (REQUESTS unless said) sent one at a time. */
interface Kind {
  name: string;
  target: typeof levityTarget;
  path?: string;
  headers: Record<string, string>;
  body: unknown;
  requests?: number;
}
const kinds: Kind[] = [
  { name: "reference proxy, pass-through", target: reference, headers: {}, body: chatRequest },
  { name: "floor proxy, pass-through", target: floor, headers: openai, body: chatRequest },
  {
    name: "levity, pass-through (OpenAI chat)",
    target: levityTarget,
    headers: openai,
    body: chatRequest,
  },
  {
    name: "floor proxy, OpenAI client -> Gemini",
    target: floor,
    headers: openai,
    body: { ...chatRequest, model: "gem-model" },
  },
  {
    name: "levity, OpenAI client -> Gemini",
    target: levityTarget,
    headers: openai,
    body: { ...chatRequest, model: "gem-model" },
  },
  {
    name: "floor proxy, Anthropic client -> OpenAI",
    target: floor,
    path: "/v1/messages",
    headers: anthropic,
    body: { ...chatRequest, model: "claude-bench" },
  },
  {
    name: "levity, Anthropic client -> OpenAI",
    target: levityTarget,
    path: "/v1/messages",
    headers: anthropic,
    body: { ...chatRequest, model: "claude-bench" },
  },
  {
    name: "reference proxy, pass-through stream (20 chunks)",
    target: reference,
    headers: {},
    body: { ...chatRequest, stream: true },
  },
  {
    name: "floor proxy, pass-through stream (20 chunks)",
    target: floor,
    headers: openai,
    body: { ...chatRequest, stream: true },
  },
  {
    name: "levity, pass-through stream (20 chunks)",
    target: levityTarget,
    headers: openai,
    body: { ...chatRequest, stream: true },
  },
  // As a model streams: each chunk 1 ms after the last, so each is its own read (above, the
  // fake upstream's 20 chunks arrive in one or two). A fifth as many: each takes 20 ms.
  ...(
    [
      ["reference proxy", reference, {}],
      ["floor proxy", floor, openai],
      ["levity", levityTarget, openai],
    ] as const
  ).map(([who, target, headers]) => ({
    name: `${who}, pass-through stream (20 chunks, each its own read)`,
    target,
    headers,
    body: { ...chatRequest, stream: true, user: "interval-1" },
    requests: Math.max(50, Math.round(REQUESTS / 5)),
  })),
  // A translated stream: an Anthropic client's, from the OpenAI upstream's chat stream.
  {
    name: "levity, Anthropic client -> OpenAI stream (20 chunks, each its own read)",
    target: levityTarget,
    path: "/v1/messages",
    headers: anthropic,
    body: {
      ...chatRequest,
      model: "claude-bench",
      stream: true,
      metadata: { user_id: "interval-1" },
    },
    requests: Math.max(50, Math.round(REQUESTS / 5)),
  },
  ...(
    [
      ["reference proxy", reference, {}],
      ["levity", levityTarget, openai],
    ] as const
  ).map(([who, target, headers]) => ({
    name: `${who}, Responses pass-through stream (20 chunks, each its own read)`,
    target,
    path: "/v1/responses",
    headers,
    body: { model: "bench-model", input: "Say hello.", stream: true, user: "interval-1" },
    requests: Math.max(50, Math.round(REQUESTS / 5)),
  })),
];

async function counts(of: ReturnType<typeof spawn>): Promise<Record<string, number>> {
  const line = of.next(/^ALLOCATIONS (.*)$/);
  of.proc.kill("SIGUSR2");
  return JSON.parse((await line)[1]!) as Record<string, number>;
}

const results: { name: string; perRequest: [string, number][]; total: number }[] = [];
for (const kind of kinds) {
  const send = async () => {
    const response = await fetch(kind.target.origin + (kind.path ?? "/v1/chat/completions"), {
      method: "POST",
      headers: { "content-type": "application/json", ...kind.headers },
      body: JSON.stringify(kind.body),
    });
    if (response.status !== 200) throw new Error(`${kind.name}: ${response.status}`);
    await response.arrayBuffer();
  };
  const requests = kind.requests ?? REQUESTS;
  // The same warm-up as ever for the rest; a paced kind's fewer requests warm up as many as it counts.
  for (let i = 0; i < (kind.requests ? Math.min(200, kind.requests) : 200); i++) await send();
  const process = kind.target.proc;
  const before = await counts(process);
  for (let i = 0; i < requests; i++) await send();
  // The request log and metrics settle after the answer: a moment for their last records.
  await Bun.sleep(1500);
  const after = await counts(process);
  const perRequest = Object.entries(after)
    .map(([type, n]) => [type, (n - (before[type] ?? 0)) / requests] as [string, number])
    .filter(([, n]) => n >= 0.5)
    .sort((a, b) => b[1] - a[1]);
  results.push({ name: kind.name, perRequest, total: perRequest.reduce((t, [, n]) => t + n, 0) });
}

for (const { name, perRequest, total } of results) {
  console.log(`\n${name}: ${total.toFixed(0)} objects a request`);
  console.log(perRequest.map(([type, n]) => `${type} ${n.toFixed(1)}`).join(", "));
}
process.exit(0);
