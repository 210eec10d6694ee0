import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { fakeGemini } from "./support/fake-gemini.ts";
import { FAKE_IMAGE_URL, formOf, REFUSED_WORD } from "./support/fake-images.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import {
  ALL_OPENAI_APIS,
  startGateway,
  upstreamsYaml,
  type TestGateway,
} from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";
import { isRedPng, RED_PNG, RED_PNG_BASE64 } from "./support/red-png.ts";

// OpenAI's image endpoints through levity: forwarded to an OpenAI upstream, translated for a
// Gemini one (an image model's generateContent, Imagen's :predict), driven by the openai SDK.

const KEY = "sk-levity-images-client";
const OPENAI_KEY = "sk-openai-images-account";
const GEMINI_KEY = "gemini-images-account";
const ADMIN = "sk-levity-images-admin";

let oa: FakeUpstream;
let ge: FakeUpstream;
let gw: TestGateway;
let client: OpenAI;

beforeAll(() => {
  oa = fakeOpenAI(OPENAI_KEY);
  ge = fakeGemini(GEMINI_KEY);
  gw = startGateway({
    gateway:
      `proxy:\n  auth_mode: strict\n  api_key: ${KEY}\n  admin_key: ${ADMIN}\n  cooldown_wait: 0\n` +
      upstreamsYaml([
        {
          name: "openai",
          protocol: "openai",
          base_url: `${oa.url}/v1`,
          apis: ALL_OPENAI_APIS,
          accounts: [{ name: "oa", key: OPENAI_KEY }],
        },
        {
          name: "gemini",
          protocol: "gemini",
          base_url: ge.url,
          accounts: [{ name: "ge", key: GEMINI_KEY }],
        },
        {
          name: "anthropic",
          protocol: "anthropic",
          base_url: "http://127.0.0.1:9",
          accounts: [{ name: "an", key: "sk-ant-unused" }],
        },
      ]),
    mappings: [
      "exact:",
      "  gpt-image-1: openai/gpt-image-1",
      "  my-editor: openai/gpt-image-1",
      "  dall-e-3: openai/dall-e-3",
      "  nano: gemini/gemini-2.5-flash-image",
      "  nano-pro: gemini/gemini-3-pro-image-preview",
      "  imagen: gemini/imagen-4.0-generate-001",
      "  claude-draw: anthropic/claude-sonnet-4-5",
      "  draw-anywhere: [anthropic/claude-sonnet-4-5, gemini/imagen-4.0-generate-001]",
      "",
    ].join("\n"),
  });
  client = new OpenAI({ apiKey: KEY, baseURL: `${gw.origin}/v1`, maxRetries: 0 });
});

afterAll(async () => {
  await gw.stop();
  await oa.stop();
  await ge.stop();
});

describe("images.generate forwarded to an OpenAI upstream", () => {
  test("gpt-image-1: the body reaches the upstream as sent, with the account's key; b64 and usage come back", async () => {
    const image = await client.images.generate({
      model: "gpt-image-1",
      prompt: "a red square",
      n: 2,
      size: "1536x1024",
      quality: "high",
    });
    const seen = oa.last();
    expect(seen.path).toBe("/v1/images/generations");
    expect(seen.headers.get("authorization")).toBe(`Bearer ${OPENAI_KEY}`);
    expect(seen.json).toEqual({
      model: "gpt-image-1",
      prompt: "a red square",
      n: 2,
      size: "1536x1024",
      quality: "high",
    });
    expect(image.data).toHaveLength(2);
    expect(isRedPng(image.data![0]!.b64_json!)).toBe(true);
    expect(image.usage?.output_tokens).toBe(544);
  });

  test("a stream of partial images (GPT image models) is relayed as OpenAI sends it", async () => {
    const stream = await client.images.generate({
      model: "gpt-image-1",
      prompt: "a red square",
      stream: true,
      partial_images: 2,
    });
    const types: string[] = [];
    for await (const event of stream) {
      types.push(event.type);
      expect(isRedPng(event.b64_json)).toBe(true);
    }
    expect(types).toEqual([
      "image_generation.partial_image",
      "image_generation.partial_image",
      "image_generation.completed",
    ]);
    expect(oa.last().json).toMatchObject({ stream: true, partial_images: 2 });
  });

  test("dall-e-3 with response_format url: OpenAI's hosted URL passes through", async () => {
    const image = await client.images.generate({
      model: "dall-e-3",
      prompt: "a lighthouse",
      response_format: "url",
    });
    expect(oa.last().json.response_format).toBe("url");
    expect(image.data![0]!.url).toBe(FAKE_IMAGE_URL);
    expect(image.data![0]!.revised_prompt).toContain("a lighthouse");
  });

  test("the upstream's refusal reaches the client as OpenAI wrote it", async () => {
    const error = await client.images
      .generate({ model: "dall-e-3", prompt: "two", n: 2 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({
      message: "You must provide n=1 for this model.",
      param: "n",
    });
  });
});

describe("images.generate over a Gemini upstream", () => {
  test("an image model: generateContent asking for an image, size as aspect ratio, b64_json back with usage", async () => {
    const response = await client.images.generate({
      model: "nano",
      prompt: "a red square",
      size: "1792x1024",
      response_format: "b64_json",
    });
    const seen = ge.last();
    expect(seen.path).toBe("/v1beta/models/gemini-2.5-flash-image:generateContent");
    expect(seen.headers.get("x-goog-api-key")).toBe(GEMINI_KEY);
    expect(seen.json).toEqual({
      contents: [{ role: "user", parts: [{ text: "a red square" }] }],
      generationConfig: {
        responseModalities: ["TEXT", "IMAGE"],
        imageConfig: { aspectRatio: "16:9" },
      },
    });
    expect(response.data).toHaveLength(1);
    expect(isRedPng(response.data![0]!.b64_json!)).toBe(true);
    expect(response.usage).toMatchObject({ input_tokens: 5, output_tokens: 1290 });
  });

  test("n images from an image model are n calls; url is a data: URL of the image", async () => {
    const before = ge.requests.length;
    const response = await client.images.generate({
      model: "nano",
      prompt: "a red square",
      n: 3,
      response_format: "url",
    });
    expect(ge.requests.length - before).toBe(3);
    expect(response.data).toHaveLength(3);
    expect(response.data![2]!.url).toBe(`data:image/png;base64,${RED_PNG_BASE64}`);
    expect(response.usage?.output_tokens).toBe(3 * 1290);
  });

  test("quality high asks a model that has an image size for 2K; a Gemini 2.x image model is not asked", async () => {
    await client.images.generate({
      model: "nano-pro",
      prompt: "x",
      quality: "high",
      size: "1024x1536",
    });
    expect(ge.last().json.generationConfig.imageConfig).toEqual({
      aspectRatio: "2:3",
      imageSize: "2K",
    });
    await client.images.generate({ model: "nano", prompt: "x", quality: "high" });
    expect(ge.last().json.generationConfig.imageConfig).toBeUndefined();
  });

  test("Imagen: :predict with the prompt, n as sampleCount, size as Imagen's aspect ratio", async () => {
    const response = await client.images.generate({
      model: "imagen",
      prompt: "a red square",
      n: 2,
      size: "1536x1024",
      quality: "hd",
    });
    const seen = ge.last();
    expect(seen.path).toBe("/v1beta/models/imagen-4.0-generate-001:predict");
    expect(seen.json).toEqual({
      instances: [{ prompt: "a red square" }],
      parameters: { sampleCount: 2, aspectRatio: "4:3", imageSize: "2K" },
    });
    expect(response.data).toHaveLength(2);
    expect(isRedPng(response.data![1]!.b64_json!)).toBe(true);
    expect(response.usage).toBeUndefined();
  });

  test("Imagen takes at most 4 images a call: n=6 is two calls asked for 4 and 2, six images, none made and billed in vain", async () => {
    const before = ge.requests.length;
    const response = await client.images.generate({ model: "imagen", prompt: "many", n: 6 });
    const calls = ge.requests.slice(before);
    expect(calls.map((c) => c.json.parameters.sampleCount).sort()).toEqual([2, 4]);
    expect(response.data).toHaveLength(6);
  });

  test("no image made (a safety stop) is a 400 in OpenAI's shape that says why", async () => {
    for (const model of ["nano", "imagen"]) {
      const error = await client.images
        .generate({ model, prompt: `something ${REFUSED_WORD}` })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as Error).message).toContain("The upstream made no image");
    }
    const gemini = await client.images
      .generate({ model: "nano", prompt: `something ${REFUSED_WORD}` })
      .catch((e: unknown) => e);
    expect((gemini as Error).message).toContain("IMAGE_SAFETY");
  });

  test("Gemini's own refusal reaches the client in OpenAI's shape", async () => {
    ge.replyOnce({
      status: 400,
      body: JSON.stringify({
        error: { code: 400, message: "Unsupported aspect ratio: 7:3", status: "INVALID_ARGUMENT" },
      }),
    });
    const response = await fetch(`${gw.origin}/v1/images/generations`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "nano", prompt: "x" }),
    });
    expect(response.status).toBe(400);
    const body = await bodyOf(response);
    expect(body.error.type).toBe("invalid_request_error");
    expect(body.error.message).toContain("Unsupported aspect ratio: 7:3");
  });
});

describe("what levity refuses or passes by", () => {
  test("bad input is a 400 in OpenAI's shape, before any upstream", async () => {
    const before = ge.requests.length + oa.requests.length;
    const cases: [unknown, string][] = [
      [{ model: "nano" }, "prompt"],
      [{ model: "nano", prompt: "x", n: 0 }, "n"],
      [{ model: "nano", prompt: "x", n: 11 }, "n"],
      [{ model: "nano", prompt: "x", size: "big" }, "size"],
      [{ model: "nano", prompt: "x", response_format: "png" }, "response_format"],
    ];
    for (const [payload, param] of cases) {
      const response = await fetch(`${gw.origin}/v1/images/generations`, {
        method: "POST",
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
        body: JSON.stringify(payload),
      });
      expect({ param, status: response.status }).toEqual({ param, status: 400 });
      expect((await bodyOf(response)).error.param).toBe(param);
    }
    expect(ge.requests.length + oa.requests.length).toBe(before);
  });

  test("an Anthropic upstream makes no images: named in the error, and passed by when a fallback can", async () => {
    const error = await client.images
      .generate({ model: "claude-draw", prompt: "x" })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as Error).message).toContain('upstream "anthropic"');
    expect((error as Error).message).toContain("makes no images");
    const image = await client.images.generate({ model: "draw-anywhere", prompt: "x" });
    expect(image.data).toHaveLength(1);
  });

  test("an edit asking for a stream of partial images is refused by name for Gemini too, not answered whole", async () => {
    const before = ge.requests.length;
    const form = new FormData();
    form.set("model", "nano");
    form.set("prompt", "make it blue");
    form.set("stream", "true");
    form.set("image", new File([RED_PNG], "red.png", { type: "image/png" }));
    const response = await fetch(`${gw.origin}/v1/images/edits`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}` },
      body: form,
    });
    expect(response.status).toBe(400);
    expect((await bodyOf(response)).error.param).toBe("stream");
    expect(ge.requests.length).toBe(before);
  });

  test("a stream of partial images is OpenAI's alone: a Gemini target is refused by name", async () => {
    const before = ge.requests.length;
    const response = await fetch(`${gw.origin}/v1/images/generations`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "nano", prompt: "x", stream: true, partial_images: 2 }),
    });
    expect(response.status).toBe(400);
    const body = await bodyOf(response);
    expect(body.error.param).toBe("stream");
    expect(body.error.message).toContain(
      'Upstream "gemini" (gemini) makes no stream of partial images',
    );
    expect(ge.requests.length).toBe(before);
  });

  test("the client's key is required, as on every api route", async () => {
    const anonymous = new OpenAI({ apiKey: "wrong", baseURL: `${gw.origin}/v1`, maxRetries: 0 });
    const error = await anonymous.images.generate({ model: "nano", prompt: "x" }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
  });
});

describe("observed like every request", () => {
  test("routing headers, the request log and the metrics name the route, model and upstream", async () => {
    const response = await fetch(`${gw.origin}/v1/images/generations`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "nano", prompt: "logged" }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-upstream")).toBe("gemini");
    expect(response.headers.get("x-mapped-model")).toBe("gemini-2.5-flash-image");
    expect(response.headers.get("x-account")).toBe("ge");
    await response.arrayBuffer();
    const logs = await bodyOf(
      await fetch(`${gw.origin}/levity/logs`, { headers: { authorization: `Bearer ${ADMIN}` } }),
    );
    const row = (logs.requests as any[]).find(
      (r) => r.route === "/v1/images/generations" && r.mappedModel === "gemini-2.5-flash-image",
    );
    expect(row).toMatchObject({
      requestedModel: "nano",
      status: 200,
      upstream: "gemini",
      account: "ge",
      inputTokens: 5,
      outputTokens: 1290,
    });
    const metrics = await (
      await fetch(`${gw.origin}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })
    ).text();
    expect(metrics).toMatch(
      /levity_requests_total\{route="\/v1\/images\/generations",[^}]*upstream="gemini"[^}]*status="200"\} \d+/,
    );
  });
});

describe("an image in a chat answer (Gemini inlineData) reaches every client in its dialect's closest shape", () => {
  const RED_URL = `data:image/png;base64,${RED_PNG_BASE64}`;
  const ask = [{ role: "user" as const, content: "draw a red square" }];

  test("OpenAI chat: message.images, as OpenRouter gives them, beside the text", async () => {
    const completion = await client.chat.completions.create({ model: "nano", messages: ask });
    const message = completion.choices[0]!.message as any;
    expect(message.content).toBe("Here is the picture.");
    expect(message.images).toEqual([{ type: "image_url", index: 0, image_url: { url: RED_URL } }]);
  });

  test("OpenAI chat, streamed: delta.images in a chunk of its own", async () => {
    const stream = await client.chat.completions.create({
      model: "nano",
      messages: ask,
      stream: true,
    });
    let text = "";
    const images: any[] = [];
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta as any;
      text += delta?.content ?? "";
      images.push(...(delta?.images ?? []));
    }
    expect(text).toBe("Here is the picture.");
    expect(images).toEqual([{ type: "image_url", index: 0, image_url: { url: RED_URL } }]);
  });

  test("Responses: an image_generation_call item with the image in result, plain and streamed", async () => {
    const response = await client.responses.create({ model: "nano", input: "draw a red square" });
    expect(response.output_text).toBe("Here is the picture.");
    const item = response.output.find((i) => i.type === "image_generation_call") as any;
    expect(item).toMatchObject({
      type: "image_generation_call",
      status: "completed",
      output_format: "png",
    });
    expect(isRedPng(item.result)).toBe(true);

    const stream = client.responses.stream({ model: "nano", input: "draw a red square" });
    const types: string[] = [];
    stream.on("event", (event) => types.push(event.type));
    const final = await stream.finalResponse();
    const streamed = final.output.find((i) => i.type === "image_generation_call") as any;
    expect(isRedPng(streamed.result)).toBe(true);
    const items = types.filter((t) => /output_item|image_generation_call/.test(t));
    expect(items).toEqual([
      "response.output_item.added",
      "response.output_item.done",
      "response.output_item.added",
      "response.image_generation_call.in_progress",
      "response.image_generation_call.generating",
      "response.image_generation_call.completed",
      "response.output_item.done",
    ]);
    expect(final.output_text).toBe("Here is the picture.");
  });

  test("Anthropic: an image block (base64 source), the shape Anthropic gives images, plain and streamed", async () => {
    const anthropic = new Anthropic({ apiKey: KEY, baseURL: gw.origin, maxRetries: 0 });
    const params = { model: "nano", max_tokens: 64, messages: ask };
    const expected = [
      { type: "text", text: "Here is the picture." },
      { type: "image", source: { type: "base64", media_type: "image/png", data: RED_PNG_BASE64 } },
    ];
    const message = await anthropic.messages.create(params);
    expect(message.content as unknown[]).toMatchObject(expected);
    const final = await anthropic.messages.stream(params).finalMessage();
    expect(final.content as unknown[]).toMatchObject(expected);
    // Sent back in the next turn, the image reaches Gemini as an image in the model's turn, not as text.
    await anthropic.messages.create({
      ...params,
      messages: [
        ...ask,
        { role: "assistant", content: final.content as Anthropic.ContentBlockParam[] },
        { role: "user", content: "now make it blue" },
      ],
    });
    const model = ge.last().json.contents[1];
    expect(model.role).toBe("model");
    expect(model.parts).toContainEqual({
      inlineData: { mimeType: "image/png", data: RED_PNG_BASE64 },
    });
  });
});

describe("images.edit (multipart)", () => {
  const red = () => new File([RED_PNG], "red.png", { type: "image/png" });

  test("forwarded to OpenAI: the form's files and fields as sent, the model mapped", async () => {
    const image = await client.images.edit({
      model: "my-editor",
      image: [red(), red()],
      mask: new File([RED_PNG], "mask.png", { type: "image/png" }),
      prompt: "make it blue",
      size: "1024x1024",
      quality: "low",
    });
    const seen = oa.last();
    expect(seen.path).toBe("/v1/images/edits");
    expect(seen.headers.get("authorization")).toBe(`Bearer ${OPENAI_KEY}`);
    const form = await formOf(seen);
    expect(form.get("model")).toBe("gpt-image-1");
    expect(form.get("prompt")).toBe("make it blue");
    expect(form.get("quality")).toBe("low");
    const files = form.getAll("image[]") as File[];
    expect(files.map((f) => [f.name, f.type])).toEqual([
      ["red.png", "image/png"],
      ["red.png", "image/png"],
    ]);
    expect(Buffer.from(await files[1]!.arrayBuffer()).equals(RED_PNG)).toBe(true);
    expect((form.get("mask") as File).name).toBe("mask.png");
    expect(isRedPng(image.data![0]!.b64_json!)).toBe(true);
    expect(image.usage?.input_tokens).toBe(150);
  });

  test("OpenAI's refusal of a file reaches the client as OpenAI wrote it", async () => {
    const error = await client.images
      .edit({
        model: "gpt-image-1",
        image: new File(["not an image"], "notes.txt", { type: "text/plain" }),
        prompt: "x",
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe("unsupported_file_mimetype");
  });

  test("a Gemini image model gets the image inline beside the prompt; url answers a data: URL", async () => {
    const image = await client.images.edit({
      model: "nano",
      image: red(),
      prompt: "make it blue",
      size: "1024x1024",
      response_format: "url",
    });
    const seen = ge.last();
    expect(seen.path).toBe("/v1beta/models/gemini-2.5-flash-image:generateContent");
    expect(seen.json).toEqual({
      contents: [
        {
          role: "user",
          parts: [
            { text: "make it blue" },
            { inlineData: { mimeType: "image/png", data: RED_PNG_BASE64 } },
          ],
        },
      ],
      generationConfig: {
        responseModalities: ["TEXT", "IMAGE"],
        imageConfig: { aspectRatio: "1:1" },
      },
    });
    expect(image.data![0]!.url).toBe(`data:image/png;base64,${RED_PNG_BASE64}`);
  });

  test("what Gemini cannot do is refused before any call, naming why: Imagen edits, a mask", async () => {
    const before = ge.requests.length;
    const imagen = await client.images
      .edit({ model: "imagen", image: red(), prompt: "x" })
      .catch((e: unknown) => e);
    expect(imagen).toBeInstanceOf(OpenAI.BadRequestError);
    expect((imagen as Error).message).toContain(
      "Imagen on the Gemini API makes images but does not edit them",
    );
    const masked = await client.images
      .edit({ model: "nano", image: red(), mask: red(), prompt: "x" })
      .catch((e: unknown) => e);
    expect(masked).toBeInstanceOf(OpenAI.BadRequestError);
    expect((masked as InstanceType<typeof OpenAI.APIError>).param).toBe("mask");
    expect(ge.requests.length).toBe(before);
  });

  test("a form without an image is a 400 naming image; a JSON body is refused as not multipart", async () => {
    const form = new FormData();
    form.set("model", "nano");
    form.set("prompt", "x");
    const noImage = await fetch(`${gw.origin}/v1/images/edits`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}` },
      body: form,
    });
    expect(noImage.status).toBe(400);
    expect((await bodyOf(noImage)).error.param).toBe("image");
    const json = await fetch(`${gw.origin}/v1/images/edits`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "nano", prompt: "x" }),
    });
    expect(json.status).toBe(400);
    expect((await bodyOf(json)).error.type).toBe("invalid_request_error");
  });
});
