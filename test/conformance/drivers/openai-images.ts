import { expect } from "bun:test";
import OpenAI from "openai";
import { RED_PNG } from "../../support/red-png.ts";
import { type Driver, IMAGE_EDIT, IMAGE_GENERATION, type Target } from "../cases.ts";

const client = (target: Target) =>
  new OpenAI({ apiKey: target.apiKey, baseURL: `${target.baseUrl}/v1`, maxRetries: 0 });

/** The bytes start as a PNG, JPEG or WebP file does. */
function expectImageBytes(bytes: Buffer): void {
  const png = bytes.subarray(0, 4).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
  const jpeg = bytes.subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff]));
  const webp = bytes.subarray(8, 12).toString("latin1") === "WEBP";
  expect(png || jpeg || webp).toBe(true);
}

/** One image of an answer: base64, a data: URL of one (levity's url), or a hosted URL. */
function expectImage(data: OpenAI.Images.Image[] | undefined): void {
  expect(data).toHaveLength(1);
  const image = data![0]!;
  const url = image.url ?? "";
  const inline = /^data:image\/[a-z]+;base64,(.+)$/.exec(url);
  if (image.b64_json) expectImageBytes(Buffer.from(image.b64_json, "base64"));
  else if (inline) expectImageBytes(Buffer.from(inline[1]!, "base64"));
  else expect(url).toMatch(/^https:\/\//);
}

/** OpenAI's image endpoints, on the upstreams given an image model. */
export const openaiImagesDriver: Driver = {
  client: "openai images",
  serves: (upstream) => upstream.imageModel !== undefined,
  cases: {
    async "image generation"(target, upstream) {
      const image = await client(target).images.generate({
        model: upstream.imageModel!,
        prompt: IMAGE_GENERATION,
        size: "1024x1024",
      });
      expect(image.created).toBeGreaterThan(0);
      expectImage(image.data);
    },

    async "image edit"(target, upstream) {
      const image = await client(target).images.edit({
        model: upstream.imageModel!,
        image: new File([RED_PNG], "red.png", { type: "image/png" }),
        prompt: IMAGE_EDIT,
      });
      expectImage(image.data);
    },
  },
};
