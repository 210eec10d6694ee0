import { FAMILIES, familyBySdkHeader } from "../codecs/families.ts";
import type { ErrorFamily } from "../codecs/errors.ts";
import { jsonResponse } from "../codecs/shared.ts";
import type { ModelEntry } from "../upstream/model-catalog.ts";
import type { OperationHandler } from "./context.ts";
import { GatewayError } from "../failure.ts";

/*
 * GET /v1/models and one model, in the shape of the SDK that asks (each family's shape lives in
 * codecs/<family>/model-list.ts), from the catalog of the upstreams' models.
 */

// Model objects need a creation time; the gateway's start is as honest as any.
const CREATED = Math.floor(Date.now() / 1000);

/** The list in the family's own shape (codecs/<family>/model-list.ts). */
function renderModelList(shape: ErrorFamily, entries: ModelEntry[]): unknown {
  return FAMILIES[shape].renderModelList(entries, CREATED);
}

function renderModel(shape: ErrorFamily, entry: ModelEntry): unknown {
  return FAMILIES[shape].renderModel(entry, CREATED);
}

/** `/v1/models` is shared by three SDKs; the headers only one of them sends tell which shape it wants. */
function modelShapeFor(routeFamily: ErrorFamily, headers: Headers): ErrorFamily {
  if (routeFamily !== "openai") return routeFamily;
  const asking = familyBySdkHeader(headers);
  return asking?.name ?? "openai";
}

/** A key limited to some models is shown only those: a client offers its user what will work. */
export const listModels: OperationHandler = async (ctx, services) => {
  const entries = (await services.catalog.list(ctx.snapshot)).filter((entry) =>
    services.keys.allowsModel(ctx.clientKey, entry.id),
  );
  return jsonResponse(renderModelList(modelShapeFor(ctx.family, ctx.request.headers), entries));
};

/** A model no upstream lists is still described: a mapping may serve it under that name. */
export const getModel: OperationHandler = async (ctx, services) => {
  const id = ctx.match.params.model ?? "";
  if (!services.keys.allowsModel(ctx.clientKey, id))
    throw new GatewayError(
      404,
      `The model "${id.slice(0, 200)}" is not one this client key may use.`,
      {
        param: "model",
        code: "model_not_found",
      },
    );
  const entries = await services.catalog.list(ctx.snapshot);
  const entry = entries.find((e) => e.id === id) ?? { id, ownedBy: "levity" };
  return jsonResponse(renderModel(modelShapeFor(ctx.family, ctx.request.headers), entry));
};
