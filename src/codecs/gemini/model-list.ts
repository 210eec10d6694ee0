import { type ListedModel, parseDataModelList } from "../family.ts";
import { isObject } from "../json.ts";

export function geminiModel(model: ListedModel) {
  return {
    name: `models/${model.id}`,
    version: "001",
    displayName: model.displayName ?? model.id,
    // "levity" owns the names only a mapping gives (no upstream lists them).
    description:
      model.ownedBy === "levity"
        ? "Served by levity under a name its mappings give."
        : `Served by levity through upstream "${model.ownedBy}".`,
    inputTokenLimit: model.inputTokenLimit ?? 1_048_576,
    outputTokenLimit: model.outputTokenLimit ?? 65_536,
    // As Google lists its embedding models: embedContent, and no generateContent.
    supportedGenerationMethods: model.embeds
      ? ["embedContent", "countTokens"]
      : ["generateContent", "countTokens"],
  };
}

export function geminiModelList(models: readonly ListedModel[]) {
  return { models: models.map(geminiModel) };
}

/** Gemini's `{models: [{name: "models/…", …}]}`; a relay that answers OpenAI's `data` list is read as that. */
export function parseGeminiModelList(body: unknown, ownedBy: string): ListedModel[] {
  if (!isObject(body) || !Array.isArray(body.models)) return parseDataModelList(body, ownedBy);
  const out: ListedModel[] = [];
  for (const model of body.models) {
    if (!isObject(model) || typeof model.name !== "string") continue;
    out.push({
      id: model.name.replace(/^models\//, ""),
      ownedBy,
      displayName: typeof model.displayName === "string" ? model.displayName : undefined,
      inputTokenLimit:
        typeof model.inputTokenLimit === "number" ? model.inputTokenLimit : undefined,
      outputTokenLimit:
        typeof model.outputTokenLimit === "number" ? model.outputTokenLimit : undefined,
      embeds: Array.isArray(model.supportedGenerationMethods)
        ? model.supportedGenerationMethods.includes("embedContent")
        : undefined,
    });
  }
  return out;
}
