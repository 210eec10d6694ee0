import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { connect } from "node:net";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream, RecordedRequest } from "./support/fake-server.ts";
import { startGateway, type TestGateway, upstreamsYaml } from "./support/gateway.ts";
import { RED_PNG } from "./support/red-png.ts";

/*
 * An upload sent in the smallest chunks HTTP allows (one byte each, with chunked transfer
 * encoding) through a live gateway: the multipart reader gathers them into a few pieces, so the
 * file reaches OpenAI whole and the memory the gateway holds stays about the body's size. Before,
 * each byte was a piece of its own (2 MB: 2 million pieces, RSS +1.2 GB, then a 500).
 */

const KEY_A = "sk-chunked-a-0123456789";
const KEY_B = "sk-chunked-b-0123456789";
const BOUNDARY = "B".repeat(60);
/**
 * The gateway runs in this process, beside this client and the fake upstream: the peak RSS growth
 * for a 2 MB body sent a byte at a time measured 85 MB alone and 190 MB in the full suite (most of
 * it the runtime's garbage from two million chunk reads, collected later in a larger heap), against
 * 1,256 MB when each byte was kept as a piece.
 */
const RSS_BOUND = 320 * 1024 * 1024;

let oa: FakeUpstream;
let gw: TestGateway;

beforeAll(() => {
  oa = fakeOpenAI([KEY_A, KEY_B]);
  gw = startGateway({
    gateway: `proxy:
  cooldown_wait: 0
${upstreamsYaml([
  {
    name: "oa",
    protocol: "openai",
    base_url: `${oa.url}/v1`,
    accounts: [
      { name: "a", key: KEY_A },
      { name: "b", key: KEY_B },
    ],
  },
])}`,
    mappings: "exact:\n  whisper-1: oa/whisper-1\n  dall-e-2: oa/dall-e-2\n",
  });
});

afterAll(async () => {
  await gw.stop();
  await oa.stop();
});

/** A form's head (fields, then the file's headers), the file's bytes, and its close. */
function form(fields: Record<string, string>, file: string, filename: string, type: string) {
  let head = "";
  for (const [name, value] of Object.entries(fields))
    head += `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  head += `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${file}"; filename="${filename}"\r\nContent-Type: ${type}\r\n\r\n`;
  return { head, tail: `\r\n--${BOUNDARY}--\r\n` };
}

/** The request with its file in 1-byte HTTP chunks; the answer's status and the RSS growth. */
async function sendInBytes(
  path: string,
  head: string,
  file: Uint8Array,
  tail: string,
): Promise<{ status: number; body: string; rssGrowth: number }> {
  const port = Number(new URL(gw.origin).port);
  const chunks: Buffer[] = [Buffer.from(`${head.length.toString(16)}\r\n${head}\r\n`, "latin1")];
  const ones = Buffer.alloc(file.byteLength * 6);
  for (let i = 0; i < file.byteLength; i++) {
    ones.write("1\r\n", i * 6, "latin1");
    ones[i * 6 + 3] = file[i]!;
    ones.write("\r\n", i * 6 + 4, "latin1");
  }
  chunks.push(ones, Buffer.from(`${tail.length.toString(16)}\r\n${tail}\r\n0\r\n\r\n`, "latin1"));
  const payload = Buffer.concat(chunks);
  Bun.gc(true);
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port }, () => {
        socket.write(
          `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n` +
            `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\nTransfer-Encoding: chunked\r\n\r\n`,
        );
        socket.write(payload);
      });
      let text = "";
      socket.on("data", (data) => {
        text += data.toString("latin1");
      });
      socket.on("close", () => resolve(text));
      socket.on("error", reject);
    });
    peak = Math.max(peak, process.memoryUsage().rss);
    const status = Number(raw.slice(9, 12));
    return { status, body: raw.slice(raw.indexOf("\r\n\r\n") + 4), rssGrowth: peak - before };
  } finally {
    clearInterval(sampler);
  }
}

async function fileAt(request: RecordedRequest, name: string): Promise<Uint8Array> {
  const received = await new Response(request.bytes, {
    headers: { "content-type": request.headers.get("content-type") ?? "" },
  }).formData();
  const file = received.get(name);
  if (!(file instanceof Blob)) throw new Error(`the upstream got no ${name} file`);
  return new Uint8Array(await file.arrayBuffer());
}

const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

describe("an upload in 1-byte HTTP chunks", () => {
  test("a 2 MB transcription reaches OpenAI whole, with its length, and the gateway's RSS stays bounded", async () => {
    const audio = Uint8Array.from({ length: 2 * 1024 * 1024 }, (_, i) => (i * 31 + 7) % 256);
    const { head, tail } = form({ model: "whisper-1" }, "file", "a.mp3", "audio/mpeg");
    const before = oa.requests.length;
    const answer = await sendInBytes("/v1/audio/transcriptions", head, audio, tail);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).text).toBeString();
    const sent = oa.requests.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.headers.get("content-length")).toBe(String(sent[0]!.bytes.byteLength));
    expect(sha(await fileAt(sent[0]!, "file"))).toBe(sha(audio));
    expect(answer.rssGrowth).toBeLessThan(RSS_BOUND);
  }, 60_000);

  test("an image edit does too, and a retry on the next account sends the whole form again", async () => {
    const image = new Uint8Array(1024 * 1024);
    image.set(RED_PNG);
    for (let i = RED_PNG.byteLength; i < image.byteLength; i++) image[i] = (i * 13) % 256;
    const { head, tail } = form(
      { model: "dall-e-2", prompt: "make it blue" },
      "image",
      "red.png",
      "image/png",
    );
    oa.replyOnce({
      status: 429,
      body: JSON.stringify({
        error: {
          message: "Rate limit reached for requests",
          type: "requests",
          param: null,
          code: "rate_limit_exceeded",
        },
      }),
      headers: { "content-type": "application/json" },
    });
    const before = oa.requests.length;
    const answer = await sendInBytes("/v1/images/edits", head, image, tail);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).data).toHaveLength(1);
    const sent = oa.requests.slice(before);
    expect(sent).toHaveLength(2);
    expect(new Set(sent.map((r) => r.headers.get("authorization"))).size).toBe(2);
    for (const request of sent) {
      expect(request.headers.get("content-length")).toBe(String(request.bytes.byteLength));
      expect(sha(await fileAt(request, "image"))).toBe(sha(image));
    }
    expect(answer.rssGrowth).toBeLessThan(RSS_BOUND);
  }, 60_000);
});
