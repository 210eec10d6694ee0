import { familyBySdkHeader } from "../codecs/families.ts";
import { errorResponse, type ErrorFamily } from "../codecs/errors.ts";
import type { RequestContext } from "./context.ts";

/*
 * Endpoints levity knows of but does not serve yet (speech, audio translations, files, batches …),
 * declared in routes.yaml with `operation: not-served`. A 404 "nearest route is …" sent people
 * hunting for a Base URL mistake they had not made; a 501 in the client's own shape says what is
 * missing. Serving one later is a change of its operation in routes.yaml.
 */

export function notServed(ctx: RequestContext): Response {
  const { route } = ctx.match;
  const what = route.note
    ? `${route.note} (${route.method} ${route.path})`
    : `${route.method} ${route.path}`;
  const message =
    `levity does not serve ${what} yet. It serves chat completions, completions and Responses (OpenAI), ` +
    `Messages (Anthropic) and generateContent (Gemini), with their model lists and token counts, ` +
    `and embeddings, image generation and edits, and audio transcriptions; ` +
    `send this request to the provider directly.`;
  ctx.trace.error(message);
  // The SDKs retry a 5xx unless told not to; errorResponse says so for 501.
  return errorResponse(
    familyFor(ctx),
    501,
    message,
    { code: "endpoint_not_served" },
    ctx.requestId,
  );
}

/**
 * OpenAI and Anthropic share some paths (/v1/files): an SDK that sends its family's own header
 * (the Anthropic SDK always sends anthropic-version) gets its own shape whatever dialect the route
 * names.
 */
function familyFor(ctx: RequestContext): ErrorFamily {
  if (ctx.family !== "openai") return ctx.family;
  const headers = ctx.request.headers;
  return familyBySdkHeader(headers)?.name ?? "openai";
}
