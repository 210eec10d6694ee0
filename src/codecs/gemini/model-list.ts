import type { ListedModel } from "../family.ts";

export function geminiModel(model: ListedModel) {
  return {
    name: `models/${model.id}`,
    version: "001",
    displayName: model.displayName ?? model.id,
    description: `Served by levity through upstream "${model.ownedBy}".`,
    inputTokenLimit: model.inputTokenLimit ?? 1_048_576,
    outputTokenLimit: model.outputTokenLimit ?? 65_536,
    supportedGenerationMethods: ["generateContent", "countTokens"],
  };
}

export function geminiModelList(models: readonly ListedModel[]) {
  return { models: models.map(geminiModel) };
}
