import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { join } from "node:path";
import OpenAI, { toFile } from "openai";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { transcriptOf } from "./support/fake-transcript.ts";
import { resetAccounts, startGateway, type TestGateway, upstreamsYaml } from "./support/gateway.ts";
import { parseMetrics, sample } from "./support/prometheus.ts";
import { readRequestDb } from "./support/request-db.ts";
import { waitUntil } from "./support/wait.ts";

/*
 * POST /v1/audio/transcriptions through a live levity, driven by the openai SDK: forwarded to an
 * OpenAI fake (the form as it came, only the model rewritten), over a Gemini fake (the audio
 * inline, json and text only), passed by for Anthropic; bodies over the route's 25 MB refused
 * before they are read whole; malformed forms refused naming the field; the request log and
 * metrics.
 */

const CLIENT_KEY = "sk-client-audio-0123456789";
const OPENAI_A = "sk-openai-audio-a-secret-1";
const OPENAI_B = "sk-openai-audio-b-secret-2";
const GEMINI_KEY = "gm-audio-secret-key-3";
const ANTHROPIC_KEY = "sk-ant-audio-secret-key-4";
const ADMIN_KEY = "sk-admin-audio-secret-5";

let oa: FakeUpstream;
let gm: FakeUpstream;
let an: FakeUpstream;
let gw: TestGateway;
let openai: OpenAI;

beforeAll(() => {
  oa = fakeOpenAI([OPENAI_A, OPENAI_B]);
  gm = fakeGemini(GEMINI_KEY);
  an = fakeAnthropic(ANTHROPIC_KEY);
  gw = startGateway({
    gateway: `proxy:
  auth_mode: strict
  api_keys: [{ name: recorder, key: ${CLIENT_KEY} }]
  admin_key: ${ADMIN_KEY}
  cooldown_wait: 0
  request_log:
    flush_ms: 20
    log_bodies: true
${upstreamsYaml([
  {
    name: "oa",
    protocol: "openai",
    base_url: `${oa.url}/v1`,
    accounts: [
      { name: "a", key: OPENAI_A },
      { name: "b", key: OPENAI_B },
    ],
  },
  { name: "gm", protocol: "gemini", base_url: gm.url, accounts: [{ name: "g", key: GEMINI_KEY }] },
  {
    name: "an",
    protocol: "anthropic",
    base_url: an.url,
    accounts: [{ name: "c", key: ANTHROPIC_KEY }],
  },
])}`,
    mappings: `exact:
  whisper: oa/whisper-1
  fast-transcribe: oa/gpt-4o-transcribe
  gem: gm/gemini-2.5-flash-real
  claude: an/claude-sonnet-4-real
  claude-then-gem: [an/claude-sonnet-4-real, gm/gemini-2.5-flash-real]
  gem-then-whisper: [gm/gemini-2.5-flash-real, oa/whisper-1]
`,
  });
  openai = new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${gw.origin}/v1`, maxRetries: 0 });
});

afterAll(async () => {
  await gw.stop();
  await Promise.all([oa.stop(), gm.stop(), an.stop()]);
});

/** Audio-like bytes that are not all alike, so a moved or lost byte changes the digest. */
function audioBytes(size: number, seed = 7): Uint8Array {
  const bytes = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  // A line that looks like a multipart boundary inside the file must not end it.
  bytes.set(new TextEncoder().encode("\r\n--not-the-boundary\r\n"), Math.min(100, size - 30));
  return bytes;
}

const SMALL = audioBytes(48_000);

/** The form fields the fake OpenAI received last, read by Bun's own parser. */
async function lastForm(fake: FakeUpstream) {
  const last = fake.requests.filter((r) => r.path === "/v1/audio/transcriptions").at(-1)!;
  return new Response(last.bytes, {
    headers: { "content-type": last.headers.get("content-type")! },
  }).formData();
}

describe("over an OpenAI upstream: the form forwarded with only the model rewritten", () => {
  test("json, through the SDK; language, prompt and temperature passed as they were", async () => {
    const answer = await openai.audio.transcriptions.create({
      file: await toFile(SMALL, "talk.mp3", { type: "audio/mpeg" }),
      model: "whisper",
      language: "de",
      prompt: "Grüße aus Köln",
      temperature: 0.2,
    });
    expect(answer.text).toBe(transcriptOf(SMALL, "de"));
    const form = await lastForm(oa);
    expect(form.get("model")).toBe("whisper-1");
    expect(form.get("language")).toBe("de");
    expect(form.get("prompt")).toBe("Grüße aus Köln");
    expect(form.get("temperature")).toBe("0.2");
    const file = form.get("file") as File;
    expect(file.name).toBe("talk.mp3");
    expect(file.type).toBe("audio/mpeg");
    const last = oa.requests.at(-1)!;
    // Sent with its length, not chunked; the account's key, never the client's.
    expect(Number(last.headers.get("content-length"))).toBe(last.bytes.byteLength);
    expect(last.headers.get("authorization")).toMatch(/^Bearer sk-openai-audio-/);
  });

  test.each(["text", "srt", "vtt"] as const)(
    "%s comes back as the upstream wrote it",
    async (format) => {
      const answer = await openai.audio.transcriptions.create({
        file: await toFile(SMALL, "talk.wav", { type: "audio/wav" }),
        model: "whisper",
        response_format: format,
      });
      const text = transcriptOf(SMALL);
      const expected = {
        text: `${text}\n`,
        srt: `1\n00:00:00,000 --> 00:00:02,500\n${text}\n\n`,
        vtt: `WEBVTT\n\n00:00:00.000 --> 00:00:02.500\n${text}\n\n`,
      }[format];
      expect(answer as unknown as string).toBe(expected);
      expect((await lastForm(oa)).get("response_format")).toBe(format);
    },
  );

  test("verbose_json with word and segment timestamps", async () => {
    const answer = await openai.audio.transcriptions.create({
      file: await toFile(SMALL, "talk.flac"),
      model: "whisper",
      response_format: "verbose_json",
      timestamp_granularities: ["word", "segment"],
    });
    expect(answer.text).toBe(transcriptOf(SMALL));
    expect(answer.segments?.[0]?.end).toBe(2.5);
    expect(answer.words?.length).toBe(5);
    expect((await lastForm(oa)).getAll("timestamp_granularities[]")).toEqual(["word", "segment"]);
  });

  test("a 20 MB file arrives whole; the upstream's refusal of a file reaches the client as it was", async () => {
    const big = audioBytes(20 * 1024 * 1024, 11);
    const answer = await openai.audio.transcriptions.create({
      file: await toFile(big, "long.mp3", { type: "audio/mpeg" }),
      model: "whisper",
    });
    expect(answer.text).toBe(transcriptOf(big));

    const refused = await openai.audio.transcriptions
      .create({ file: await toFile(SMALL, "notes.txt"), model: "whisper" })
      .catch((error) => error);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect(refused.message).toContain("Invalid file format");
  });

  test("stream: the upstream's SSE events passed on, through the SDK's stream", async () => {
    const stream = await openai.audio.transcriptions.create({
      file: await toFile(SMALL, "live.mp3", { type: "audio/mpeg" }),
      model: "fast-transcribe",
      stream: true,
    });
    const deltas: string[] = [];
    let done: { text: string } | undefined;
    for await (const event of stream) {
      if (event.type === "transcript.text.delta") deltas.push(event.delta);
      if (event.type === "transcript.text.done") done = event;
    }
    expect(deltas.join("")).toBe(transcriptOf(SMALL));
    expect(done?.text).toBe(transcriptOf(SMALL));
    const form = await lastForm(oa);
    expect(form.get("stream")).toBe("true");
    expect(form.get("model")).toBe("gpt-4o-transcribe");
  });

  test("a failed attempt is retried on the other account with the same bytes", async () => {
    const before = oa.requests.length;
    oa.replyOnce({
      status: 503,
      body: JSON.stringify({
        error: { message: "overloaded", type: "server_error", param: null, code: null },
      }),
    });
    const response = await openai.audio.transcriptions
      .create({ file: await toFile(SMALL, "again.mp3"), model: "whisper" })
      .withResponse();
    expect(response.data.text).toBe(transcriptOf(SMALL));
    expect(response.response.headers.get("x-attempts")).toBe("2");
    const tried = oa.requests.slice(before);
    expect(tried).toHaveLength(2);
    expect(tried[1]!.bytes.byteLength).toBe(tried[0]!.bytes.byteLength);
  });
});

describe("over a Gemini upstream: the audio inline, with a transcription instruction", () => {
  test("json and text, the audio and language as sent", async () => {
    const json = await openai.audio.transcriptions.create({
      file: await toFile(SMALL, "talk.mp3", { type: "audio/mpeg" }),
      model: "gem",
      language: "fr",
      prompt: "Bonjour à Lyon",
      temperature: 0.3,
    });
    expect(json.text).toBe(transcriptOf(SMALL, "fr"));
    expect((json as { usage?: unknown }).usage).toEqual({
      type: "tokens",
      input_tokens: 116,
      output_tokens: 7,
      total_tokens: 123,
    });
    const sent = gm.last().json;
    expect(sent.contents[0].parts[0].inlineData.mimeType).toBe("audio/mp3");
    expect(sent.contents[0].parts[1].text).toMatch(/transcript/i);
    expect(sent.contents[0].parts[1].text).toContain('"Bonjour à Lyon"');
    expect(sent.generationConfig).toEqual({ temperature: 0.3 });
    expect(gm.last().path).toBe("/v1beta/models/gemini-2.5-flash-real:generateContent");

    const text = await openai.audio.transcriptions.create({
      file: await toFile(SMALL, "talk.ogg", { type: "application/octet-stream" }),
      model: "gem",
      response_format: "text",
    });
    expect(text as unknown as string).toBe(transcriptOf(SMALL));
    expect(gm.last().json.contents[0].parts[0].inlineData.mimeType).toBe("audio/ogg");
  });

  test.each(["srt", "vtt", "verbose_json"] as const)(
    "%s is a 400 naming the format and the upstream, before Gemini is asked",
    async (format) => {
      const before = gm.requests.length;
      const error = await openai.audio.transcriptions
        .create({ file: await toFile(SMALL, "talk.mp3"), model: "gem", response_format: format })
        .catch((e) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect(error.message).toContain(`response_format ${format}`);
      expect(error.message).toContain('upstream "gm"');
      expect(error.param).toBe("response_format");
      expect(gm.requests.length).toBe(before);
    },
  );

  test("stream is a 400 naming it for Gemini", async () => {
    const form = new FormData();
    form.set("model", "gem");
    form.set("stream", "true");
    form.set("file", new File([SMALL], "a.mp3", { type: "audio/mpeg" }));
    const response = await fetch(`${gw.origin}/v1/audio/transcriptions`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT_KEY}` },
      body: form,
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as OpenAIError;
    expect(body.error.param).toBe("stream");
    expect(body.error.message).toContain('upstream "gm"');
  });

  test("a format Gemini cannot give passes to a fallback that can", async () => {
    const response = await openai.audio.transcriptions
      .create({
        file: await toFile(SMALL, "talk.mp3"),
        model: "gem-then-whisper",
        response_format: "srt",
      })
      .withResponse();
    expect(response.data as unknown as string).toContain(transcriptOf(SMALL));
    expect(response.response.headers.get("x-upstream")).toBe("oa");
  });

  test("audio Gemini does not take is refused naming the file", async () => {
    const webm = await openai.audio.transcriptions
      .create({ file: await toFile(SMALL, "talk.webm", { type: "audio/webm" }), model: "gem" })
      .catch((e) => e);
    expect(webm.status).toBe(400);
    expect(webm.param).toBe("file");
    expect(webm.message).toContain("wav, mp3, aiff, aac, ogg, flac");
  });

  test("a 20 MB file, too large to go inline, goes through the Files API and is deleted after", async () => {
    const big = audioBytes(20 * 1024 * 1024, 13);
    const before = gm.requests.length;
    const answer = await openai.audio.transcriptions.create({
      file: await toFile(big, "long.flac", { type: "audio/flac" }),
      model: "gem",
      language: "en",
    });
    expect(answer.text).toBe(transcriptOf(big, "en"));
    const deleted = await waitUntil("the uploaded file's deletion", () =>
      gm.requests.slice(before).find((r) => r.method === "DELETE"),
    );
    const [start, upload, generate] = gm.requests.slice(before);
    expect(start!.path).toBe("/upload/v1beta/files");
    expect(start!.headers.get("x-goog-upload-protocol")).toBe("resumable");
    expect(start!.headers.get("x-goog-upload-header-content-length")).toBe(String(big.byteLength));
    expect(start!.headers.get("x-goog-upload-header-content-type")).toBe("audio/flac");
    expect(upload!.query.get("upload_id")).toBeTruthy();
    expect(upload!.bytes.byteLength).toBe(big.byteLength);
    const part = generate!.json.contents[0].parts[0];
    expect(part.inlineData).toBeUndefined();
    expect(part.fileData).toMatchObject({ mimeType: "audio/flac" });
    expect(generate!.bytes.byteLength).toBeLessThan(4096);
    expect(deleted.path).toBe(`/v1beta/${part.fileData.fileUri.split("/v1beta/")[1]}`);
  });

  test("an upload URL on another host is not followed with the account's key: a 502 that says so", async () => {
    const before = gm.requests.length;
    gm.replyOnce({
      status: 200,
      body: "",
      headers: { "x-goog-upload-url": "http://127.0.0.2:9/elsewhere?upload_id=1" },
    });
    const error = await openai.audio.transcriptions
      .create({ file: await toFile(audioBytes(16 * 1024 * 1024, 5), "long.mp3"), model: "gem" })
      .catch((e) => e);
    expect(error.status).toBe(502);
    expect(error.message).toContain("gave no upload URL on its own host");
    expect(gm.requests.length).toBe(before + 1);
    // The broken answer cooled the one Gemini account; the tests after this one need it.
    await resetAccounts(gw.origin, ADMIN_KEY);
  });

  test("an Anthropic upstream cannot hear audio: passed by for the next target, or a 400 saying so", async () => {
    const passed = await openai.audio.transcriptions
      .create({ file: await toFile(SMALL, "talk.mp3"), model: "claude-then-gem" })
      .withResponse();
    expect(passed.data.text).toBe(transcriptOf(SMALL));
    expect(passed.response.headers.get("x-upstream")).toBe("gm");
    expect(an.requests).toHaveLength(0);

    const refused = await openai.audio.transcriptions
      .create({ file: await toFile(SMALL, "talk.mp3"), model: "claude" })
      .catch((e) => e);
    expect(refused.status).toBe(400);
    expect(refused.message).toContain('upstream "an" (anthropic) cannot transcribe audio');
  });
});

interface OpenAIError {
  error: { message: string; type: string; param: string | null };
}

/** A raw POST whose body is pulled as the server reads it; counts what was pulled. */
async function pulled(
  path: string,
  headers: Record<string, string>,
  total: number,
  first: Uint8Array = new Uint8Array(0),
) {
  let sent = 0;
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (sent >= total) return controller.close();
        const chunk = sent === 0 && first.byteLength > 0 ? first : new Uint8Array(64 * 1024);
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
  const response = await fetch(`${gw.origin}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${CLIENT_KEY}`, ...headers },
    body,
    duplex: "half",
  } as RequestInit);
  return { response, json: (await response.json()) as OpenAIError, sent: () => sent };
}

/** Headers with a Content-Length and only the first bytes of the body on a raw socket: the answer comes without the rest. */
function declaredOnly(length: number, head: string): Promise<string> {
  const port = Number(new URL(gw.origin).port);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.write(
        `POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${CLIENT_KEY}\r\n` +
          `Content-Type: multipart/form-data; boundary=b\r\nContent-Length: ${length}\r\n\r\n${head}`,
      );
    });
    let text = "";
    socket.on("data", (data) => {
      text += data.toString("latin1");
    });
    socket.on("close", () => resolve(text));
    socket.on("error", reject);
  });
}

describe("bodies are bounded: refused before they are read whole", () => {
  test("a declared Content-Length over 25 MB: a 413 in OpenAI's shape, the connection closed, nothing read", async () => {
    const raw = await declaredOnly(26 * 1024 * 1024 + 1, "--b\r\n");
    expect(raw).toStartWith("HTTP/1.1 413");
    expect(raw.toLowerCase()).toContain("connection: close");
    const body = JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4));
    expect(body.error.type).toBe("invalid_request_error");
    expect(body.error.message).toContain("25 MB");
  });

  test("a chunked body is cut off once it passes 25 MB: the client's stream is not read to its end", async () => {
    const total = 200 * 1024 * 1024;
    const head = new TextEncoder().encode(
      '--b\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\n\r\n',
    );
    const { response, json, sent } = await pulled(
      "/v1/audio/transcriptions",
      { "content-type": "multipart/form-data; boundary=b" },
      total,
      head,
    );
    expect(response.status).toBe(413);
    expect(json.error.message).toContain("25 MB");
    // levity reads 25 MB; what else left the client sat in socket buffers (about 39 MB in all, measured).
    expect(sent()).toBeLessThan(total / 2);
  });

  test.each([
    ["no boundary", { "content-type": "multipart/form-data" }, "", null, /no usable boundary/],
    [
      "JSON instead of a form",
      { "content-type": "application/json" },
      "{}",
      null,
      /expects multipart\/form-data/,
    ],
    [
      "an unterminated part",
      { "content-type": "multipart/form-data; boundary=b" },
      '--b\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\n\r\nabc',
      "file",
      /ended inside the part "file"/,
    ],
    [
      "a field too large",
      { "content-type": "multipart/form-data; boundary=b" },
      `--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n${"p".repeat(70_000)}\r\n--b--\r\n`,
      "prompt",
      /"prompt" is larger than 65536 bytes/,
    ],
    [
      "a missing file",
      { "content-type": "multipart/form-data; boundary=b" },
      '--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper\r\n--b--\r\n',
      "file",
      /file is required/,
    ],
    [
      "a missing model",
      { "content-type": "multipart/form-data; boundary=b" },
      '--b\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\n\r\nabc\r\n--b--\r\n',
      "model",
      /model is required/,
    ],
    [
      "a temperature that is not a number from 0 to 1",
      { "content-type": "multipart/form-data; boundary=b" },
      '--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper\r\n--b\r\nContent-Disposition: form-data; name="temperature"\r\n\r\nhot\r\n--b\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\n\r\nabc\r\n--b--\r\n',
      "temperature",
      /temperature must be a number from 0 to 1/,
    ],
    [
      "a response_format OpenAI does not have",
      { "content-type": "multipart/form-data; boundary=b" },
      '--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper\r\n--b\r\nContent-Disposition: form-data; name="response_format"\r\n\r\nmp3\r\n--b\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\n\r\nabc\r\n--b--\r\n',
      "response_format",
      /response_format must be one of json, text, srt, vtt, verbose_json/,
    ],
  ] as const)(
    "%s: a 400 in OpenAI's shape naming the field",
    async (_, headers, body, param, message) => {
      const response = await fetch(`${gw.origin}/v1/audio/transcriptions`, {
        method: "POST",
        headers: { authorization: `Bearer ${CLIENT_KEY}`, ...headers },
        body,
      });
      expect(response.status).toBe(400);
      const json = (await response.json()) as OpenAIError;
      expect(json.error.type).toBe("invalid_request_error");
      expect(json.error.param).toBe(param);
      expect(json.error.message).toMatch(message);
    },
  );

  test("the gateway serves on after every refusal, and the alias path works", async () => {
    const form = new FormData();
    form.set("model", "whisper");
    form.set("file", new File([SMALL], "a.mp3", { type: "audio/mpeg" }));
    const response = await fetch(`${gw.origin}/audio/transcriptions`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT_KEY}` },
      body: form,
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { text: string }).text).toBe(transcriptOf(SMALL));
    expect(response.headers.get("x-levity-path-rewritten")).toBeTruthy();
  });

  test("nothing already accepted is lost: a transcription in flight finishes while oversize and malformed ones are refused", async () => {
    const quiet = gm.quietOnce({});
    const inFlight = openai.audio.transcriptions.create({
      file: await toFile(SMALL, "held.mp3", { type: "audio/mpeg" }),
      model: "gem",
    });
    await quiet.received;
    const oversize = await declaredOnly(30 * 1024 * 1024, "--b\r\n");
    expect(oversize).toStartWith("HTTP/1.1 413");
    const malformed = await fetch(`${gw.origin}/v1/audio/transcriptions`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${CLIENT_KEY}`,
        "content-type": "multipart/form-data; boundary=b",
      },
      body: "--b\r\nno headers here",
    });
    expect(malformed.status).toBe(400);
    quiet.release();
    expect((await inFlight).text).toBe(transcriptOf(SMALL));
  });

  test("without a client key the body is not read: 401", async () => {
    const { response, sent } = await pulled(
      "/v1/audio/transcriptions",
      { "content-type": "multipart/form-data; boundary=b", authorization: "Bearer wrong" },
      200 * 1024 * 1024,
    );
    expect(response.status).toBe(401);
    // The rest of the upload must not be read as the connection's next request.
    expect(response.headers.get("connection")).toBe("close");
    expect(sent()).toBeLessThan(100 * 1024 * 1024);
  });
});

describe("observed like every other request", () => {
  test("the request log and /metrics record transcriptions, with the file's size and not its bytes", async () => {
    await openai.audio.transcriptions.create({
      file: await toFile(SMALL, "logged.mp3", { type: "audio/mpeg" }),
      model: "gem",
    });
    await openai.audio.transcriptions.create({
      file: await toFile(SMALL, "logged-openai.mp3", { type: "audio/mpeg" }),
      model: "whisper",
    });
    const dataDir = join(gw.dir, "data");
    const rows = await waitUntil("the transcription's row", () => {
      const found = readRequestDb(dataDir).rows.filter(
        (row) =>
          row.route === "/v1/audio/transcriptions" &&
          String(row.request_body).includes("logged.mp3"),
      );
      return found.length > 0 ? found : undefined;
    });
    const row = rows.at(-1)!;
    expect(row).toMatchObject({
      status: 200,
      client_key: "recorder",
      upstream: "gm",
      mapped_model: "gemini-2.5-flash-real",
      input_tokens: 116,
      output_tokens: 5,
    });
    expect(JSON.parse(row.request_body)).toEqual({
      file: `<file "logged.mp3", audio/mpeg, ${SMALL.byteLength} bytes>`,
      model: "gem",
    });
    // OpenAI's json answer reports its tokens too (the fake: 40 in, one per word out).
    const forwarded = await waitUntil("the forwarded transcription's row", () =>
      readRequestDb(dataDir).rows.find((r) => String(r.request_body).includes("logged-openai.mp3")),
    );
    expect(forwarded).toMatchObject({
      upstream: "oa",
      account: expect.any(String),
      input_tokens: 40,
      output_tokens: 5,
    });
    const metrics = parseMetrics(
      await (
        await fetch(`${gw.origin}/metrics`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })
      ).text(),
    );
    expect(
      sample(metrics, "levity_requests_total", {
        route: "/v1/audio/transcriptions",
        status: "200",
      }),
    ).toBeGreaterThan(0);
  });
});
