import type { OperationHandler } from "./context.ts";
import { jsonResponse } from "../codecs/shared.ts";
import { modelShapeFor, renderModel, renderModelList } from "./models.ts";

/*
 * The model list and one model, in the shape of the SDK that asks. The shapes live with the
 * dialects (src/operations/models.ts); these serve them from the catalog of the upstreams' models.
 */

export const listModels: OperationHandler = async (ctx, services) => {
  const entries = await services.catalog.list(ctx.snapshot);
  return jsonResponse(renderModelList(modelShapeFor(ctx.family, ctx.request.headers), entries));
};

/** A model no upstream lists is still described: a mapping may serve it under that name. */
export const getModel: OperationHandler = async (ctx, services) => {
  const id = ctx.match.params.model ?? "";
  const entries = await services.catalog.list(ctx.snapshot);
  const entry = entries.find((e) => e.id === id) ?? { id, ownedBy: "levity" };
  return jsonResponse(renderModel(modelShapeFor(ctx.family, ctx.request.headers), entry));
};
