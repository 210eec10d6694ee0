import type { ListedModel } from "../family.ts";

export function anthropicModel(model: ListedModel, created: number) {
  return {
    type: "model",
    id: model.id,
    display_name: model.displayName ?? model.id,
    created_at: new Date(created * 1000).toISOString(),
    // The models API's own fields (null where levity does not know the model).
    max_input_tokens: model.inputTokenLimit ?? null,
    max_tokens: model.outputTokenLimit ?? null,
  };
}

/** One page holding every model: levity's list is short and built in memory. */
export function anthropicModelList(models: readonly ListedModel[], created: number) {
  return {
    data: models.map((model) => anthropicModel(model, created)),
    has_more: false,
    first_id: models[0]?.id ?? null,
    last_id: models.at(-1)?.id ?? null,
  };
}
