import type { MediaSource } from "../ir.ts";

/*
 * An image the model made, for dialects with no block for one in an answer: OpenAI chat takes it
 * as OpenRouter does (message.images, delta.images: image_url entries with a data: URL), the
 * Responses API as an image_generation_call item (its base64 in result).
 */

/** The image as a URL: its own, or a data: URL of its bytes. */
export function mediaUrl(source: MediaSource): string {
  return source.kind === "url" ? source.url : `data:${source.mediaType};base64,${source.data}`;
}

/** One entry of OpenRouter's message.images (and delta.images in a stream). */
export function chatImage(source: MediaSource, index: number) {
  return { type: "image_url", index, image_url: { url: mediaUrl(source) } };
}

/** The Responses API's image_generation_call item. */
export function imageGenerationItem(
  id: string,
  source: MediaSource,
  status: "in_progress" | "completed",
) {
  const mediaType = source.kind === "base64" ? source.mediaType : (source.mediaType ?? "");
  return {
    id,
    type: "image_generation_call",
    status,
    result: status === "completed" ? (source.kind === "base64" ? source.data : source.url) : null,
    output_format: mediaType.replace(/^image\//, "") || "png",
  };
}
