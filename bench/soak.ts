/*
 * The soak: levity as its own process, in front of three upstreams (OpenAI, Anthropic, Gemini)
 * of twelve accounts each, one request in ten faulted. Workers send a steady mix of every client
 * dialect to every upstream, streamed and whole, and check each answer: a complete, well-formed
 * answer, or a well-formed error in the client's own shape. levity's RSS and open descriptors are
 * sampled throughout; at the end every request's id must be in the request log.
 *
 *   bun bench/soak.ts [--minutes 30] [--workers 8]
 *
 * test/soak.test.ts runs the same for two minutes as part of npm test.
 */
import { Database } from "bun:sqlite";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { errorShapeProblem, type Family } from "../test/support/error-shape.ts";
import { startSoakUpstream, type Fault } from "./soak-upstream.ts";
import { SERVICE_ENVIRONMENT } from "../src/cli/service.ts";

const ROOT = resolve(import.meta.dir, "..");
const ACCOUNTS = 12;

export interface SoakOptions {
  seconds: number;
  workers: number;
  /** Print a line every this many seconds; 0: quiet. */
  reportEverySeconds?: number;
}

export interface Sample {
  atSeconds: number;
  rssMb: number;
  fds: number;
}

export interface SoakReport {
  seconds: number;
  requests: number;
  ok: number;
  /** Well-formed errors, by status. */
  errors: Record<string, number>;
  /** Answers that were neither: each is a failure of the soak. */
  malformed: string[];
  faultsInjected: Record<Fault, number>;
  samples: Sample[];
  /** RSS and descriptors: after warm-up (the first fifth) and at most after it. */
  rss: { warmMb: number; maxAfterMb: number; growth: number };
  fds: { warm: number; maxAfter: number };
  /** Request ids the clients saw that the request log does not hold. */
  missingFromLog: number;
  logRows: number;
}

type Dialect = Family;
const MODELS = ["oa-model", "an-model", "gm-model"];

interface Call {
  dialect: Dialect;
  stream: boolean;
  model: string;
}

function requestFor(origin: string, call: Call): [string, RequestInit] {
  const headers = {
    "content-type": "application/json",
    authorization: "Bearer sk-soak-client-key-01",
    "anthropic-version": "2023-06-01",
  };
  if (call.dialect === "openai")
    return [
      `${origin}/v1/chat/completions`,
      {
        method: "POST",
        headers,
        body: JSON.stringify({
          model: call.model,
          stream: call.stream,
          messages: [{ role: "user", content: "soak" }],
        }),
      },
    ];
  if (call.dialect === "anthropic")
    return [
      `${origin}/v1/messages`,
      {
        method: "POST",
        headers,
        body: JSON.stringify({
          model: call.model,
          max_tokens: 32,
          stream: call.stream,
          messages: [{ role: "user", content: "soak" }],
        }),
      },
    ];
  const action = call.stream ? "streamGenerateContent?alt=sse" : "generateContent";
  return [
    `${origin}/v1beta/models/${call.model}:${action}`,
    {
      method: "POST",
      headers,
      body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "soak" }] }] }),
    },
  ];
}

/** The text of a complete answer, or why the answer is not one (an error event counts as well-formed). */
function checkAnswer(
  call: Call,
  text: string,
): { ok: true } | { ok: false; problem: string } | { errorEvent: true } {
  const fail = (problem: string) => ({
    ok: false as const,
    problem: `${call.dialect} ${call.stream ? "stream" : "whole"}: ${problem}: ${text.slice(0, 200)}`,
  });
  if (!call.stream) {
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      return fail("not JSON");
    }
    const content =
      call.dialect === "openai"
        ? json.choices?.[0]?.message?.content
        : call.dialect === "anthropic"
          ? json.content?.[0]?.text
          : json.candidates?.[0]?.content?.parts?.[0]?.text;
    return content === "soak steady and complete" ? { ok: true } : fail("not the whole answer");
  }
  const datas = text
    .split(/\r?\n\r?\n/)
    .map((event) =>
      event
        .split(/\r?\n/)
        .find((line) => line.startsWith("data: "))
        ?.slice(6),
    )
    .filter((d): d is string => d !== undefined);
  let content = "";
  for (const data of datas) {
    if (data === "[DONE]") continue;
    let json: any;
    try {
      json = JSON.parse(data);
    } catch {
      // A pass-through stream forwards what the upstream sent; an error event must follow it.
      continue;
    }
    if (json.error || json.type === "error") return { errorEvent: true };
    content +=
      call.dialect === "openai"
        ? (json.choices?.[0]?.delta?.content ?? "")
        : call.dialect === "anthropic"
          ? (json.delta?.text ?? "")
          : (json.candidates?.[0]?.content?.parts?.[0]?.text ?? "");
  }
  const ended =
    call.dialect === "openai"
      ? datas.at(-1) === "[DONE]"
      : call.dialect === "anthropic"
        ? text.includes("event: message_stop")
        : /"finishReason"/.test(datas.at(-1) ?? "");
  if (!ended) return fail("ended without its last event or an error event");
  return content === "soak steady and complete" ? { ok: true } : fail(`content "${content}"`);
}

/** A well-formed error in the client's own shape (the same check the tests make). */
function errorShapeOk(dialect: Dialect, status: number, text: string): boolean {
  try {
    return errorShapeProblem(dialect, JSON.parse(text), status) === undefined;
  } catch {
    return false;
  }
}

function sample(pid: number, started: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return {
    atSeconds: Math.round((performance.now() - started) / 1000),
    rssMb: Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024),
    fds: readdirSync(`/proc/${pid}/fd`).length,
  };
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const upstream = startSoakUpstream({ faultEvery: 10, paceMs: 5 });
  const dir = mkdtempSync(join(tmpdir(), "levity-soak-"));
  const accounts = (prefix: string) =>
    Array.from(
      { length: ACCOUNTS },
      (_, i) =>
        `      - { name: ${prefix}${i}, key: sk-soak-${prefix}-${String(i).padStart(4, "0")} }`,
    ).join("\n");
  const upstreamBlock = (name: string, protocol: string, base: string) =>
    `  - name: ${name}\n    protocol: ${protocol}\n    base_url: ${base}\n    timeouts: { idle: 2, first_byte: 3, total: 20 }\n    accounts:\n${accounts(name)}\n`;
  writeFileSync(
    join(dir, "gateway.yaml"),
    "proxy:\n  port: 0\n  auth_mode: strict\n  api_key: sk-soak-client-key-01\n  cooldown_wait: 1\n  request_log: { flush_ms: 200 }\nupstreams:\n" +
      upstreamBlock("oa", "openai", `${upstream.url}/v1`) +
      upstreamBlock("an", "anthropic", upstream.url) +
      upstreamBlock("gm", "gemini", upstream.url),
  );
  writeFileSync(
    join(dir, "mappings.yaml"),
    "exact:\n  oa-model: oa/soak\n  an-model: an/soak\n  gm-model: gm/soak\n",
  );
  const gateway = Bun.spawn(
    [process.execPath, join(ROOT, "src/main.ts"), "serve", "--config", dir],
    {
      env: { ...process.env, ...SERVICE_ENVIRONMENT },
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  let output = "";
  const decoder = new TextDecoder();
  const origin = await (async () => {
    for await (const chunk of gateway.stdout) {
      output += decoder.decode(chunk);
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(output);
      if (match) return match[1]!;
    }
    throw new Error(`levity did not start:\n${output}`);
  })();
  // Keep draining its output so it never blocks on a full pipe.
  void (async () => {
    for await (const _ of gateway.stdout);
  })();
  void (async () => {
    for await (const _ of gateway.stderr);
  })();

  const started = performance.now();
  const until = started + options.seconds * 1000;
  const samples: Sample[] = [sample(gateway.pid, started)];
  const sampler = setInterval(() => {
    samples.push(sample(gateway.pid, started));
    const last = samples.at(-1)!;
    if (options.reportEverySeconds && last.atSeconds % options.reportEverySeconds === 0)
      console.log(
        `${last.atSeconds} s: ${requests} requests, RSS ${last.rssMb} MB, ${last.fds} fds`,
      );
  }, 1000);

  let requests = 0;
  let ok = 0;
  const errors: Record<string, number> = {};
  const malformed: string[] = [];
  const ids: string[] = [];
  const worker = async (w: number) => {
    for (let i = w; performance.now() < until; i += options.workers) {
      const call: Call = {
        dialect: (["openai", "anthropic", "gemini"] as const)[i % 3]!,
        model: MODELS[Math.floor(i / 3) % 3]!,
        stream: Math.floor(i / 9) % 2 === 1,
      };
      const [url, init] = requestFor(origin, call);
      requests++;
      try {
        const response = await fetch(url, init);
        const id = response.headers.get("x-request-id");
        if (id) ids.push(id);
        const text = await response.text();
        if (response.status === 200) {
          const verdict = checkAnswer(call, text);
          if ("errorEvent" in verdict)
            errors["200 with an error event"] = (errors["200 with an error event"] ?? 0) + 1;
          else if (verdict.ok) ok++;
          else malformed.push(verdict.problem);
        } else if (errorShapeOk(call.dialect, response.status, text))
          errors[response.status] = (errors[response.status] ?? 0) + 1;
        else
          malformed.push(
            `${call.dialect}: ${response.status} not in the client's error shape: ${text.slice(0, 200)}`,
          );
      } catch (error) {
        malformed.push(
          `${call.dialect} ${call.stream ? "stream" : "whole"}: ${(error as Error).message}`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: options.workers }, (_, w) => worker(w)));
  clearInterval(sampler);
  samples.push(sample(gateway.pid, started));

  // Stopping flushes the request log; then every id the clients saw must be in it.
  gateway.kill("SIGTERM");
  await gateway.exited;
  await upstream.stop();
  const db = new Database(join(dir, "data", "requests.db"), { readonly: true });
  const logged = new Set(
    db
      .query<{ request_id: string }, []>("SELECT request_id FROM requests")
      .all()
      .map((row) => row.request_id),
  );
  const logRows = logged.size;
  db.close();
  rmSync(dir, { recursive: true, force: true });

  const warmIndex = Math.max(1, Math.floor(samples.length / 5));
  const after = samples.slice(warmIndex);
  const warm = samples[warmIndex]!;
  const maxAfterMb = Math.max(...after.map((s) => s.rssMb));
  return {
    seconds: options.seconds,
    requests,
    ok,
    errors,
    malformed,
    faultsInjected: upstream.faulted(),
    samples,
    rss: { warmMb: warm.rssMb, maxAfterMb, growth: maxAfterMb / warm.rssMb - 1 },
    fds: { warm: warm.fds, maxAfter: Math.max(...after.map((s) => s.fds)) },
    missingFromLog: ids.filter((id) => !logged.has(id)).length,
    logRows,
  };
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const flag = (name: string, fallback: number) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : fallback;
  };
  const report = await runSoak({
    seconds: flag("minutes", 30) * 60,
    workers: flag("workers", 8),
    reportEverySeconds: 60,
  });
  const { samples, malformed, ...summary } = report;
  console.log(
    JSON.stringify(
      { ...summary, malformed: malformed.slice(0, 10), malformedCount: malformed.length },
      null,
      2,
    ),
  );
  process.exit(malformed.length === 0 && report.missingFromLog === 0 ? 0 : 1);
}
