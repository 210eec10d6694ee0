import type { ListedModel } from "../family.ts";

/*
 * OpenAI's model object says nothing of limits. Where levity knows them it adds the fields the
 * clients that look read: `context_window` and `max_output_tokens` (Codex's model info),
 * `context_length` (OpenRouter's, read by the Cline family of editors), and `input_modalities`.
 */
export function openaiModel(model: ListedModel, created: number) {
  return {
    id: model.id,
    object: "model",
    created,
    owned_by: model.ownedBy,
    ...(model.inputTokenLimit === undefined
      ? {}
      : { context_window: model.inputTokenLimit, context_length: model.inputTokenLimit }),
    ...(model.outputTokenLimit === undefined ? {} : { max_output_tokens: model.outputTokenLimit }),
    ...(model.modalities === undefined ? {} : { input_modalities: model.modalities }),
    // OpenAI's object does not say what a model makes; OpenRouter's word for an embedding model.
    ...(model.embeds ? { output_modalities: ["embeddings"] } : {}),
  };
}

export function openaiModelList(models: readonly ListedModel[], created: number) {
  return { object: "list", data: models.map((model) => openaiModel(model, created)) };
}
