import { FAMILIES, FAMILY_LIST } from "../codecs/families.ts";
import type { ErrorFamily } from "../codecs/errors.ts";
import type { ModelEntry } from "../upstream/model-catalog.ts";

// Model objects need a creation time; the gateway's start is as honest as any.
const CREATED = Math.floor(Date.now() / 1000);

/** The list in the family's own shape (codecs/<family>/model-list.ts). */
export function renderModelList(shape: ErrorFamily, entries: ModelEntry[]): unknown {
  return FAMILIES[shape].renderModelList(entries, CREATED);
}

export function renderModel(shape: ErrorFamily, entry: ModelEntry): unknown {
  return FAMILIES[shape].renderModel(entry, CREATED);
}

/** `/v1/models` is shared by three SDKs; the headers only one of them sends tell which shape it wants. */
export function modelShapeFor(routeFamily: ErrorFamily, headers: Headers): ErrorFamily {
  if (routeFamily !== "openai") return routeFamily;
  const asking = FAMILY_LIST.find((family) => family.sdkHeader && headers.has(family.sdkHeader));
  return asking?.name ?? "openai";
}
