import type { ErrorFamily } from "../http/errors.ts";
import type { ModelEntry } from "../upstream/model-catalog.ts";

// Model objects need a creation time; the gateway's start is as honest as any.
const CREATED = Math.floor(Date.now() / 1000);
const CREATED_ISO = new Date(CREATED * 1000).toISOString();

function openaiModel(entry: ModelEntry) {
  return { id: entry.id, object: "model", created: CREATED, owned_by: entry.ownedBy };
}

function anthropicModel(entry: ModelEntry) {
  return {
    type: "model",
    id: entry.id,
    display_name: entry.displayName ?? entry.id,
    created_at: CREATED_ISO,
  };
}

function geminiModel(entry: ModelEntry) {
  return {
    name: `models/${entry.id}`,
    version: "001",
    displayName: entry.displayName ?? entry.id,
    description: `Served by levity through upstream "${entry.ownedBy}".`,
    inputTokenLimit: entry.inputTokenLimit ?? 1_048_576,
    outputTokenLimit: entry.outputTokenLimit ?? 65_536,
    supportedGenerationMethods: ["generateContent", "countTokens"],
  };
}

export function renderModelList(shape: ErrorFamily, entries: ModelEntry[]): unknown {
  switch (shape) {
    case "openai":
      return { object: "list", data: entries.map(openaiModel) };
    case "anthropic":
      return {
        data: entries.map(anthropicModel),
        has_more: false,
        first_id: entries[0]?.id ?? null,
        last_id: entries.at(-1)?.id ?? null,
      };
    case "gemini":
      return { models: entries.map(geminiModel) };
  }
}

export function renderModel(shape: ErrorFamily, entry: ModelEntry): unknown {
  switch (shape) {
    case "openai":
      return openaiModel(entry);
    case "anthropic":
      return anthropicModel(entry);
    case "gemini":
      return geminiModel(entry);
  }
}

/** `/v1/models` is shared by three SDKs; the headers only one of them sends tell which shape it wants. */
export function modelShapeFor(routeFamily: ErrorFamily, headers: Headers): ErrorFamily {
  if (routeFamily !== "openai") return routeFamily;
  if (headers.has("anthropic-version")) return "anthropic";
  if (headers.has("x-goog-api-key")) return "gemini";
  return "openai";
}
