import type { Operation } from "../codecs/names.ts";
import { ADMIN_HANDLERS } from "./admin.ts";
import { compactResponses, generateOrCompact } from "./compact.ts";
import type { OperationHandler } from "./context.ts";
import { embeddings } from "./embeddings.ts";
import { generate } from "./generate.ts";
import { health } from "./health.ts";
import { imageEdits, imageGenerations } from "./images.ts";
import { indexPage } from "./index-page.ts";
import { metrics } from "./metrics.ts";
import { getModel, listModels } from "./models.ts";
import { monitorPage } from "./monitor-page.ts";
import { notServed } from "./not-served.ts";
import { transcribe } from "./transcribe.ts";

/**
 * One handler per operation routes.yaml can name. Typed over every Operation, so adding one to the
 * schema without a handler here fails the typecheck rather than a request.
 */
export const OPERATION_HANDLERS: Readonly<Record<Operation, OperationHandler>> = {
  health,
  "list-models": listModels,
  "get-model": getModel,
  generate: generateOrCompact,
  // Counting tokens goes the same way as a generation: mapping, pool, translation where needed.
  "count-tokens": generate,
  compact: compactResponses,
  embeddings,
  metrics,
  "monitor-page": monitorPage,
  index: indexPage,
  "not-served": notServed,
  "image-generation": imageGenerations,
  "image-edit": imageEdits,
  transcribe,
  ...ADMIN_HANDLERS,
};
