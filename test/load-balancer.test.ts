import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { REPO, tempDir, upstreamsYaml } from "./support/gateway.ts";
import { type Instances, startInstances } from "./support/instances.ts";
import { LineReader } from "./support/process.ts";
import { freePort } from "./support/redis.ts";
import { waitUntil } from "./support/wait.ts";

/*
 * The load-balancer configurations the README gives (docs/deploy/nginx.conf, haproxy.cfg), run
 * as written (only their ports changed) in front of two real levity instances: requests are
 * spread over both, a stream passes through as it comes (not buffered until its end), and an
 * instance killed with SIGKILL costs no client request.
 */

const NGINX = "/usr/sbin/nginx";
const HAPROXY = "/usr/sbin/haproxy";
const KEY = "sk-test-balanced-0123456789";
const ADMIN = "sk-test-balanced-admin-0123";

function available(path: string): boolean {
  if (existsSync(path)) return true;
  if (process.env.LEVITY_REQUIRE_SHARED === "1")
    throw new Error(
      `load-balancer.test.ts: LEVITY_REQUIRE_SHARED=1 but there is no ${path} (apt-get install nginx-light haproxy)`,
    );
  console.warn(`load-balancer.test.ts: skipped, no ${path} (apt-get install nginx-light haproxy)`);
  return false;
}

interface Balancer {
  origin: string;
  stop(): Promise<void>;
}

/** The README's file with its ports: the balancer's own, and the two instances'. */
function withPorts(file: string, listen: number, a: number, b: number): string {
  return readFileSync(join(REPO, "docs/deploy", file), "utf8")
    .replace("listen 8040;", `listen 127.0.0.1:${listen};`)
    .replace("bind :8040", `bind 127.0.0.1:${listen}`)
    .replaceAll("127.0.0.1:8045", `127.0.0.1:${a}`)
    .replaceAll("127.0.0.1:8046", `127.0.0.1:${b}`);
}

async function startBalancer(kind: "nginx" | "haproxy", a: number, b: number): Promise<Balancer> {
  const dir = tempDir(`levity-${kind}-`);
  const port = freePort();
  let argv: string[];
  if (kind === "nginx") {
    mkdirSync(join(dir, "logs"));
    writeFileSync(join(dir, "levity.conf"), withPorts("nginx.conf", port, a, b));
    writeFileSync(
      join(dir, "nginx.conf"),
      `${process.getuid?.() === 0 ? "user root;\n" : ""}worker_processes 1;\npid ${dir}/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n  include ${dir}/levity.conf;\n}\n`,
    );
    argv = [NGINX, "-p", dir, "-c", join(dir, "nginx.conf"), "-g", "daemon off;"];
  } else {
    writeFileSync(join(dir, "haproxy.cfg"), withPorts("haproxy.cfg", port, a, b));
    argv = [HAPROXY, "-f", join(dir, "haproxy.cfg"), "-db"];
  }
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const said = new LineReader(proc.stderr as ReadableStream<Uint8Array>);
  void new Response(proc.stdout as ReadableStream).arrayBuffer();
  const origin = `http://127.0.0.1:${port}`;
  await waitUntil(`${kind} to answer (${said.text})`, async () => {
    const answer = await fetch(`${origin}/healthz`).catch(() => undefined);
    await answer?.text();
    return answer?.status === 200;
  });
  return {
    origin,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const READY = available(NGINX) && available(HAPROXY);
let oa: FakeUpstream;

beforeAll(() => {
  if (READY) oa = fakeOpenAI("sk-up-balanced");
});
afterAll(async () => {
  if (READY) await oa.stop();
});

const ask = (origin: string, stream = false) =>
  fetch(`${origin}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify({
      model: "gpt-4o-real",
      stream,
      messages: [{ role: "user", content: "hi" }],
    }),
  });

async function served(origin: string): Promise<number> {
  const answer = await fetch(`${origin}/levity/logs?limit=500`, {
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  return ((await answer.json()) as { requests: unknown[] }).requests.length;
}

describe.skipIf(!READY).each(["nginx", "haproxy"] as const)(
  "%s, configured as the README says",
  (kind) => {
    let instances: Instances;
    let balancer: Balancer;

    beforeAll(async () => {
      instances = await startInstances(2, {
        gateway:
          `proxy:\n  auth_mode: all_except_health\n  api_key: ${KEY}\n  admin_key: ${ADMIN}\n  cooldown_wait: 0\n` +
          upstreamsYaml([
            {
              name: "oa",
              protocol: "openai",
              base_url: `${oa.url}/v1`,
              accounts: [{ name: "a", key: "sk-up-balanced" }],
            },
          ]),
        mappings: "exact:\n  gpt-4o-real: oa/gpt-4o-real\n",
      });
      const port = (i: number) => Number(new URL(instances.all[i]!.origin).port);
      balancer = await startBalancer(kind, port(0), port(1));
    }, 30_000);
    afterAll(async () => {
      await balancer?.stop();
      await instances?.stop();
    });

    test("requests are spread over both instances", async () => {
      for (let i = 0; i < 20; i++) {
        const answer = await ask(balancer.origin);
        expect(answer.status).toBe(200);
        await answer.text();
      }
      const counts = await Promise.all(instances.all.map((instance) => served(instance.origin)));
      expect(counts[0]! + counts[1]!).toBe(20);
      expect(Math.min(...counts)).toBeGreaterThan(0);
    });

    test("a stream's first chunk reaches the client while the upstream still holds the rest", async () => {
      const held = oa.holdOnce(
        'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-real","choices":[{"index":0,"delta":{"role":"assistant","content":"first"},"finish_reason":null}]}\n\n',
      );
      const answer = await ask(balancer.origin, true);
      expect(answer.status).toBe(200);
      const reader = answer.body!.getReader();
      const decoder = new TextDecoder();
      let seen = "";
      while (!seen.includes("first")) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += decoder.decode(value, { stream: true });
      }
      // Read before release: the balancer did not wait for the end.
      expect(seen).toContain("first");
      held.release(
        'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-real","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n',
      );
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += decoder.decode(value, { stream: true });
      }
      expect(seen).toContain("[DONE]");
    });

    test("an instance killed with SIGKILL costs no client request", async () => {
      await instances.all[0]!.kill("SIGKILL");
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) {
        const answer = await ask(balancer.origin);
        statuses.push(answer.status);
        await answer.text();
      }
      expect(statuses).toEqual(Array(20).fill(200));
    });
  },
);
