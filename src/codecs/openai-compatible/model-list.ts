import type { ListedModel } from "../family.ts";

export function openaiModel(model: ListedModel, created: number) {
  return { id: model.id, object: "model", created, owned_by: model.ownedBy };
}

export function openaiModelList(models: readonly ListedModel[], created: number) {
  return { object: "list", data: models.map((model) => openaiModel(model, created)) };
}
