import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import {
  createServer as createTlsServer,
  type Server as TlsServer,
  type TLSSocket,
} from "node:tls";
import { loadConfig } from "../src/config/load.ts";
import { ConfigError } from "../src/config/problem.ts";
import {
  AddressAllowList,
  classifyAddress,
  type AddressClass,
} from "../src/config/address-policy.ts";
import {
  FetchRefused,
  safeFetch,
  type Resolver,
  type SafeFetchOptions,
} from "../src/upstream/safe-fetch.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import {
  startGateway,
  tempDir,
  upstreamsYaml,
  writeConfig,
  type TestGateway,
} from "./support/gateway.ts";
import { IMAGES_CERT, IMAGES_KEY } from "./support/media-tls.ts";
import { RED_PNG } from "./support/red-png.ts";

/*
 * Image URLs a client sends to a Gemini model are fetched by levity, so a client could aim
 * levity at its own network (issue 14, item 3). These tests never send a packet anywhere but
 * loopback: a private or link-local address is refused by the classifier before any connection,
 * and a test that would otherwise connect elsewhere proves that it did not by what the loopback
 * servers recorded.
 */

const KEY = "ge-media-1";
const ONE_TEXT = "(an address it may not fetch, unreachable, or not an image within the limits)";

// ---------------------------------------------------------------- the classifier

const CLASSES: [string, AddressClass][] = [
  ["8.8.8.8", "public"],
  ["93.184.216.34", "public"],
  ["0.0.0.0", "unspecified"],
  ["0.1.2.3", "reserved"],
  ["10.1.2.3", "private"],
  ["100.64.0.1", "cgnat"],
  ["100.127.255.254", "cgnat"],
  ["100.128.0.1", "public"],
  ["127.0.0.1", "loopback"],
  ["127.255.255.254", "loopback"],
  ["169.254.169.254", "link-local"],
  ["172.16.0.1", "private"],
  ["172.31.255.255", "private"],
  ["172.32.0.1", "public"],
  ["192.0.0.8", "reserved"],
  ["192.0.2.1", "reserved"],
  ["192.168.1.1", "private"],
  ["198.18.0.1", "reserved"],
  ["198.51.100.1", "reserved"],
  ["203.0.113.1", "reserved"],
  ["224.0.0.1", "multicast"],
  ["239.255.255.250", "multicast"],
  ["240.0.0.1", "reserved"],
  ["255.255.255.255", "reserved"],
  ["::", "unspecified"],
  ["::1", "loopback"],
  ["[::1]", "loopback"],
  ["::ffff:127.0.0.1", "loopback"],
  ["::ffff:7f00:1", "loopback"],
  ["::ffff:169.254.169.254", "link-local"],
  ["::ffff:10.0.0.1", "private"],
  ["::ffff:8.8.8.8", "public"],
  ["::127.0.0.1", "reserved"],
  ["64:ff9b::a00:1", "private"],
  ["64:ff9b::808:808", "public"],
  ["fc00::1", "private"],
  ["fd12:3456::1", "private"],
  ["fe80::1", "link-local"],
  ["fe80::1%eth0", "link-local"],
  ["febf::1", "link-local"],
  ["fec0::1", "private"],
  ["ff02::1", "multicast"],
  ["2001:db8::1", "reserved"],
  ["2001::1", "reserved"],
  ["2002:7f00:1::1", "reserved"],
  ["100::1", "reserved"],
  ["2606:4700:4700::1111", "public"],
  ["2a00:1450:4001::200e", "public"],
  ["localhost", "invalid"],
  ["1.2.3", "invalid"],
  ["1::2::3", "invalid"],
  ["1:2:3:4:5:6:7:8:9", "invalid"],
  ["256.1.1.1", "invalid"],
];

describe("the address classifier", () => {
  test.each(CLASSES)("%s is %s", (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });
});

describe("the allow-list", () => {
  const list = new AddressAllowList([
    "10.0.0.0/8",
    "127.0.0.1",
    "fd00::/8",
    "images.internal.example",
    "*.corp.example",
  ]);
  test.each([
    ["10.200.1.1", true],
    ["11.0.0.1", false],
    ["127.0.0.1", true],
    ["::ffff:127.0.0.1", true],
    ["127.0.0.2", false],
    ["fd00::5", true],
    ["fe80::1", false],
  ] as const)("address %s: %p", (address, allowed) => {
    expect(list.allowsAddress(address)).toBe(allowed);
  });
  test.each([
    ["images.internal.example", true],
    ["IMAGES.internal.example.", true],
    ["a.b.corp.example", true],
    ["corp.example", false],
    ["evilcorp.example", false],
    ["images.internal.example.evil", false],
  ] as const)("host %s: %p", (host, allowed) => {
    expect(list.allowsHost(host)).toBe(allowed);
  });
  test.each([
    ["10.0.0.0/8", undefined],
    ["fd00::/8", undefined],
    ["127.0.0.1", undefined],
    ["images.internal.example", undefined],
    ["*.corp.example", undefined],
    ["10.0.0.0/33", "network"],
    ["http://x.example", "network"],
    ["not a host", "host name"],
  ] as const)("entry %s", (entry, problem) => {
    const found = AddressAllowList.problemWith(entry);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });
});

describe("proxy.media_fetch in gateway.yaml", () => {
  const load = (gateway: string) => {
    const dir = tempDir();
    try {
      writeConfig(dir, { gateway });
      return loadConfig({ dir, env: {} });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  test("defaults: nothing allowed beyond public addresses, 8 URLs, 20 MB, 15 s", () => {
    expect(load("proxy:\n  port: 0\n").proxy.mediaFetch).toEqual({
      allow: [],
      maxUrls: 8,
      maxTotalBytes: 20 * 1024 * 1024,
      timeoutMs: 15_000,
    });
  });

  test("written keys are taken; a bad allow entry is a problem with its line", () => {
    expect(
      load(
        "proxy:\n  media_fetch:\n    allow: [10.0.0.0/8, images.internal.example]\n    max_urls: 2\n    max_total_mb: 1.5\n    timeout: 3\n",
      ).proxy.mediaFetch,
    ).toEqual({
      allow: ["10.0.0.0/8", "images.internal.example"],
      maxUrls: 2,
      maxTotalBytes: Math.round(1.5 * 1024 * 1024),
      timeoutMs: 3000,
    });
    let error: unknown;
    try {
      load("proxy:\n  media_fetch:\n    allow:\n      - 10.0.0.0/33\n");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain("proxy.media_fetch.allow[0]");
    expect((error as Error).message).toContain("gateway.yaml:4:");
  });
});

// ---------------------------------------------------------------- loopback servers

interface Recorder {
  server: ReturnType<typeof Bun.serve>;
  origin: string;
  seen: { path: string; host: string | null }[];
}

/** A loopback server that records every request and answers by path. */
function recorder(
  answer: (path: string, seen: Recorder) => Response | Promise<Response>,
): Recorder {
  const self = { seen: [] } as unknown as Recorder;
  self.server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      const path = new URL(request.url).pathname;
      self.seen.push({ path, host: request.headers.get("host") });
      return answer(path, self);
    },
  });
  self.origin = `http://127.0.0.1:${self.server.port}`;
  return self;
}

/** A body that never ends: only a cap enforced while reading stops it. */
function endless(): Response {
  const chunk = new Uint8Array(64 * 1024);
  return new Response(new ReadableStream({ pull: (controller) => controller.enqueue(chunk) }), {
    headers: { "content-type": "image/png" },
  });
}

const KB600 = new Uint8Array(600 * 1024);
let images: Recorder;
const held: (() => void)[] = [];

beforeAll(() => {
  images = recorder((path, self) => {
    if (path === "/red.png")
      return new Response(RED_PNG, { headers: { "content-type": "image/png" } });
    if (path === "/600k.png")
      return new Response(KB600, { headers: { "content-type": "image/png" } });
    if (path === "/endless.png") return endless();
    if (path === "/json") return Response.json({ secret: "admin data" });
    if (path === "/hang.png")
      return new Promise<Response>((resolve) => held.push(() => resolve(new Response("late"))));
    const hops = /^\/hop\/(\d+)$/.exec(path);
    if (hops)
      return Number(hops[1]) === 0
        ? new Response(RED_PNG, { headers: { "content-type": "image/png" } })
        : Response.redirect(`${self.origin}/hop/${Number(hops[1]) - 1}`, 302);
    if (path === "/to-red") return Response.redirect(`${self.origin}/red.png`, 302);
    if (path === "/to-v6-loopback")
      return Response.redirect(`http://[::1]:${self.server.port}/red.png`, 302);
    if (path === "/to-metadata")
      return Response.redirect("http://169.254.169.254/latest/meta-data/", 302);
    return new Response("no", { status: 404 });
  });
});
afterAll(async () => {
  for (const release of held) release();
  await images.server.stop(true);
});

// ---------------------------------------------------------------- the fetcher, with its resolver injected

function options(
  overrides: Partial<SafeFetchOptions> & { resolveMap?: Record<string, string[]> } = {},
): SafeFetchOptions {
  const map = overrides.resolveMap ?? {};
  const resolve: Resolver = async (hostname) => {
    const addresses = map[hostname];
    if (!addresses) throw new Error(`ENOTFOUND ${hostname}`);
    return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return {
    allow: new AddressAllowList([]),
    resolve,
    signal: AbortSignal.timeout(10_000),
    budget: { remaining: 10 * 1024 * 1024 },
    itemCapBytes: 5 * 1024 * 1024,
    maxRedirects: 3,
    mediaType: (headers) => headers.get("content-type") ?? undefined,
    ...overrides,
  };
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e) => e,
  );
  expect(error).toBeInstanceOf(FetchRefused);
  return (error as FetchRefused).reason;
}

describe("the fetcher", () => {
  test("a public-looking name that resolves to loopback is refused before any connection", async () => {
    const before = images.seen.length;
    const reason = await refusal(
      safeFetch(
        `http://images.example.com:${images.server.port}/red.png`,
        options({ resolveMap: { "images.example.com": ["127.0.0.1"] } }),
      ),
    );
    expect(reason).toContain("loopback");
    expect(images.seen.length).toBe(before);
  });

  test("one closed address among public ones refuses the name: every address is checked", async () => {
    const before = images.seen.length;
    const reason = await refusal(
      safeFetch(
        `http://mixed.example.com:${images.server.port}/red.png`,
        options({ resolveMap: { "mixed.example.com": ["93.184.216.34", "127.0.0.1"] } }),
      ),
    );
    expect(reason).toContain("127.0.0.1");
    expect(images.seen.length).toBe(before);
  });

  test.each([
    "http://10.0.0.5/a.png",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00::1]/a.png",
    "http://[::ffff:169.254.169.254]/",
    "http://0.0.0.0:1/",
    "http://100.64.0.1/a.png",
  ])("%s is refused by the classifier, not by a connection", async (url) => {
    const reason = await refusal(safeFetch(url, options()));
    expect(reason).toMatch(/private|link-local|unspecified|cgnat/);
  });

  test("an allow-listed name is fetched from the address that was checked, with its own Host header", async () => {
    const fetched = await safeFetch(
      `http://images.example.com:${images.server.port}/red.png`,
      options({
        allow: new AddressAllowList(["images.example.com"]),
        resolveMap: { "images.example.com": ["127.0.0.1"] },
      }),
    );
    expect(Buffer.from(fetched.bytes).equals(RED_PNG)).toBe(true);
    // The name resolves nowhere but in the injected resolver, so the connection went to the checked address.
    expect(images.seen.at(-1)).toEqual({
      path: "/red.png",
      host: `images.example.com:${images.server.port}`,
    });
  });

  test("each redirect is checked again: an allowed name that redirects to an address not allowed is refused there", async () => {
    const allowed = options({
      allow: new AddressAllowList(["images.example.com"]),
      resolveMap: { "images.example.com": ["127.0.0.1"] },
    });
    const before = images.seen.length;
    // /to-red redirects to 127.0.0.1 by address, which only the name, not the address, opens.
    const reason = await refusal(
      safeFetch(`http://images.example.com:${images.server.port}/to-red`, allowed),
    );
    expect(reason).toContain("loopback");
    expect(images.seen.slice(before).map((s) => s.path)).toEqual(["/to-red"]);
  });

  test("at most 3 redirects", async () => {
    const allow = new AddressAllowList(["127.0.0.1"]);
    expect((await safeFetch(`${images.origin}/hop/3`, options({ allow }))).bytes.byteLength).toBe(
      RED_PNG.byteLength,
    );
    expect(await refusal(safeFetch(`${images.origin}/hop/4`, options({ allow })))).toContain(
      "redirects",
    );
  });

  test("the caps hold while reading: an endless body stops at the item cap, and the request's budget is shared", async () => {
    const allow = new AddressAllowList(["127.0.0.1"]);
    expect(
      await refusal(
        safeFetch(`${images.origin}/endless.png`, options({ allow, itemCapBytes: 1024 * 1024 })),
      ),
    ).toContain("over the cap");
    const budget = { remaining: 1024 * 1024 };
    await safeFetch(`${images.origin}/600k.png`, options({ allow, budget }));
    expect(budget.remaining).toBe(1024 * 1024 - KB600.byteLength);
    expect(
      await refusal(safeFetch(`${images.origin}/600k.png`, options({ allow, budget }))),
    ).toContain("cap");
  });

  describe("over TLS, from the pinned address", () => {
    let server: TlsServer;
    let port: number;
    const seen: { servername: string | false | null; request: string }[] = [];
    beforeAll(async () => {
      // A bare TLS server, so the test sees the SNI the fetcher sent as well as its Host header.
      server = createTlsServer({ key: IMAGES_KEY, cert: IMAGES_CERT }, (socket: TLSSocket) => {
        let head = "";
        socket.on("data", (data) => {
          head += data.toString("latin1");
          if (!head.includes("\r\n\r\n")) return;
          seen.push({ servername: socket.servername, request: head });
          socket.write(
            `HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: ${RED_PNG.byteLength}\r\nconnection: close\r\n\r\n`,
          );
          socket.end(RED_PNG);
        });
        socket.on("error", () => {});
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      port = (server.address() as { port: number }).port;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    test("the name is the TLS server name and the Host header, and the certificate is checked against it", async () => {
      const fetched = await safeFetch(
        `https://images.example.com:${port}/red.png`,
        options({
          allow: new AddressAllowList(["images.example.com"]),
          resolveMap: { "images.example.com": ["127.0.0.1"] },
          ca: IMAGES_CERT,
        }),
      );
      expect(Buffer.from(fetched.bytes).equals(RED_PNG)).toBe(true);
      expect(seen.at(-1)!.servername).toBe("images.example.com");
      expect(seen.at(-1)!.request).toMatch(
        new RegExp(`\r\nhost: images\\.example\\.com:${port}\r\n`, "i"),
      );
    });

    test("a name the certificate does not cover is refused, though the address is the same", async () => {
      const reason = await refusal(
        safeFetch(
          `https://other.example.com:${port}/red.png`,
          options({
            allow: new AddressAllowList(["other.example.com"]),
            resolveMap: { "other.example.com": ["127.0.0.1"] },
            ca: IMAGES_CERT,
          }),
        ),
      );
      expect(reason).toContain("other.example.com");
    });
  });

  test("credentials in a URL and schemes other than http(s) are refused", async () => {
    const allow = new AddressAllowList(["127.0.0.1"]);
    expect(
      await refusal(
        safeFetch(`http://user:pw@127.0.0.1:${images.server.port}/red.png`, options({ allow })),
      ),
    ).toContain("credentials");
    expect(await refusal(safeFetch("file:///etc/passwd", options({ allow })))).toContain("scheme");
  });
});

// ---------------------------------------------------------------- through the gateway

const MAPPINGS = "exact:\n  to-gemini: gemini/gemini-real\n";

function gatewayWith(ge: FakeUpstream, mediaFetch: string): TestGateway {
  const proxy = `proxy:\n  cooldown_wait: 0\n${mediaFetch}`;
  return startGateway({
    gateway:
      proxy +
      upstreamsYaml([
        {
          name: "gemini",
          protocol: "gemini",
          base_url: ge.url,
          accounts: [{ name: "a", key: KEY }],
        },
      ]),
    mappings: MAPPINGS,
  });
}

/** An OpenAI chat request with these image URLs, answered as status and error message (or the answer's text). */
async function ask(gw: TestGateway, urls: string[]): Promise<{ status: number; message: string }> {
  const content = [
    { type: "text", text: "What color?" },
    ...urls.map((url) => ({ type: "image_url", image_url: { url } })),
  ];
  const response = await fetch(`${gw.origin}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "to-gemini", messages: [{ role: "user", content }] }),
  });
  const body = (await response.json()) as any;
  return {
    status: response.status,
    message: body.error?.message ?? body.choices?.[0]?.message?.content,
  };
}

/** The one error text, with the URL it names taken out, so texts for different URLs compare. */
const withoutUrl = (message: string, url: string) => message.replace(JSON.stringify(url), "URL");

describe("image URLs through the gateway, by default", () => {
  let ge: FakeUpstream;
  let gw: TestGateway;
  beforeAll(() => {
    ge = fakeGemini(KEY);
    gw = gatewayWith(ge, "");
  });
  afterAll(async () => {
    await gw.stop();
    await ge.stop();
  });

  test("loopback, localhost, link-local and private URLs are all refused with one text, and nothing reaches the image server or Gemini", async () => {
    const urls = [
      `${gw.origin}/levity/status`,
      `${images.origin}/red.png`,
      `http://localhost:${images.server.port}/red.png`,
      `http://[::1]:${images.server.port}/red.png`,
      "http://169.254.169.254/latest/meta-data/",
      "http://10.0.0.1/a.png",
      "http://0.0.0.0/a.png",
    ];
    const before = images.seen.length;
    const geBefore = ge.requests.length;
    const texts = new Set<string>();
    for (const url of urls) {
      const { status, message } = await ask(gw, [url]);
      expect(status).toBe(400);
      expect(message).toContain(ONE_TEXT);
      texts.add(withoutUrl(message, url));
    }
    expect([...texts]).toEqual([`levity could not use the image at URL ${ONE_TEXT}.`]);
    expect(images.seen.length).toBe(before);
    expect(ge.requests.length).toBe(geBefore);
  });
});

describe("image URLs through the gateway, with loopback allow-listed", () => {
  let ge: FakeUpstream;
  let gw: TestGateway;
  beforeAll(() => {
    ge = fakeGemini(KEY);
    gw = gatewayWith(
      ge,
      "  media_fetch:\n    allow: [127.0.0.1]\n    max_urls: 2\n    max_total_mb: 1\n    timeout: 1\n",
    );
  });
  afterAll(async () => {
    await gw.stop();
    await ge.stop();
  });

  test("an allow-listed loopback image is fetched and inlined, through a redirect", async () => {
    const { status, message } = await ask(gw, [`${images.origin}/to-red`]);
    expect(status).toBe(200);
    expect(message).toBe("Red");
    expect(ge.last().json.contents[0].parts[1].inlineData).toEqual({
      mimeType: "image/png",
      data: RED_PNG.toString("base64"),
    });
  });

  test("a redirect from the allowed address to loopback it does not allow, or to cloud metadata, is refused", async () => {
    for (const path of ["/to-v6-loopback", "/to-metadata"]) {
      const { status, message } = await ask(gw, [`${images.origin}${path}`]);
      expect(status).toBe(400);
      expect(message).toContain(ONE_TEXT);
    }
  });

  test("more URLs than max_urls are refused before any is fetched", async () => {
    const before = images.seen.length;
    const { status, message } = await ask(gw, [
      `${images.origin}/red.png?1`,
      `${images.origin}/red.png?2`,
      `${images.origin}/red.png?3`,
    ]);
    expect(status).toBe(400);
    expect(message).toContain("max_urls");
    expect(images.seen.length).toBe(before);
  });

  test("max_total_mb holds across a request's URLs, and while reading an endless body", async () => {
    expect((await ask(gw, [`${images.origin}/600k.png`])).status).toBe(200);
    const two = await ask(gw, [`${images.origin}/600k.png?a`, `${images.origin}/600k.png?b`]);
    expect(two.status).toBe(400);
    expect(two.message).toContain(ONE_TEXT);
    const endlessBody = await ask(gw, [`${images.origin}/endless.png`]);
    expect(endlessBody.status).toBe(400);
  });

  test("refused, unreachable, timed out, not found, not an image, too big: one text", async () => {
    // A port nothing listens on: a server's, once stopped.
    const gone = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    const closedPort = gone.port;
    await gone.stop(true);
    const urls = [
      `http://[::1]:${images.server.port}/red.png`,
      `http://127.0.0.1:${closedPort}/red.png`,
      `${images.origin}/hang.png`,
      `${images.origin}/missing.png`,
      `${images.origin}/json`,
      `${images.origin}/endless.png`,
    ];
    const texts = new Set<string>();
    for (const url of urls) {
      const { status, message } = await ask(gw, [url]);
      expect(status).toBe(400);
      texts.add(withoutUrl(message, url));
    }
    expect([...texts]).toEqual([`levity could not use the image at URL ${ONE_TEXT}.`]);
  });
});

// ---------------------------------------------------------------- issue 14, item 9: the model list

describe("the upstream model list", () => {
  test("a /models that redirects is not followed: the account's key never reaches the redirect target", async () => {
    const target = recorder(() =>
      Response.json({ data: [{ id: "stolen-model" }], models: [{ name: "models/stolen-model" }] }),
    );
    const headersSeen: Headers[] = [];
    const redirector = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(request) {
        headersSeen.push(request.headers);
        return Response.redirect(`${target.origin}/elsewhere`, 307);
      },
    });
    const upstream = `http://127.0.0.1:${redirector.port}`;
    const gw = startGateway({
      gateway: upstreamsYaml([
        {
          name: "anthropic",
          protocol: "anthropic",
          base_url: upstream,
          accounts: [{ name: "a", key: "sk-ant-model-list-1" }],
        },
        {
          name: "gemini",
          protocol: "gemini",
          base_url: upstream,
          accounts: [{ name: "a", key: "ge-model-list-1" }],
        },
        {
          name: "openai",
          protocol: "openai",
          base_url: `${upstream}/v1`,
          accounts: [{ name: "a", key: "sk-oa-model-list-1" }],
        },
      ]),
      mappings: "exact:\n  mapped: gemini/gemini-real\n",
    });
    try {
      const response = await fetch(`${gw.origin}/v1/models`);
      expect(response.status).toBe(200);
      const ids = ((await response.json()) as any).data.map((m: any) => m.id);
      expect(ids).toContain("mapped");
      expect(ids).not.toContain("stolen-model");
      // Each listing did reach the upstream with its key…
      expect(
        headersSeen
          .map((h) => h.get("x-api-key") ?? h.get("x-goog-api-key") ?? h.get("authorization"))
          .sort(),
      ).toEqual(["Bearer sk-oa-model-list-1", "ge-model-list-1", "sk-ant-model-list-1"]);
      // …and nothing, key or not, reached where it pointed.
      expect(target.seen).toEqual([]);
      expect(gw.log.lines.some((line) => line.includes("redirect"))).toBe(true);
    } finally {
      await gw.stop();
      await redirector.stop(true);
      await target.server.stop(true);
    }
  });
});
