import { type FamilyModule, parseDataModelList, STAINLESS_HEADERS } from "../family.ts";
import { OPENAI_DEFAULT_BASE_URL, openaiBasePath } from "./base-url.ts";
import { openaiErrorBody } from "./error-body.ts";
import { openaiOutOfCredit, openaiRefusesSignature, openaiRejectsKey } from "./failure-words.ts";
import { openaiModel, openaiModelList } from "./model-list.ts";
import { openaiRateLimitResetMs } from "./rate-limit-headers.ts";

/** OpenAI and every provider that speaks its API: the family of openai-chat, -completions, -responses. */ import { openaiTooLong } from "./too-long.ts";

export const openaiFamily: Readonly<FamilyModule> = {
  name: "openai",
  nativeDialect: "openai-chat",
  errorBody: openaiErrorBody,
  renderModel: openaiModel,
  renderModelList: openaiModelList,
  parseModelList: parseDataModelList,
  defaultBaseUrl: OPENAI_DEFAULT_BASE_URL,
  clientBasePath: "/v1",
  sdkHeaders: ["openai-organization", "openai-project", ...STAINLESS_HEADERS],
  // Anthropic's 529 (overloaded) is a 503 to SDKs that have no such status.
  clientStatus: (status) => (status === 529 ? 503 : status),
  basePath: openaiBasePath,
  accountHeaders: (key) => ({ authorization: `Bearer ${key}` }),
  modelListPath: () => "/models",
  requestHeaders: ["openai-beta"],
  answerHeaders: { names: ["openai-processing-ms", "openai-version"], prefixes: ["x-ratelimit-"] },
  rejectsKey: openaiRejectsKey,
  outOfCredit: openaiOutOfCredit,
  contextTooLong: openaiTooLong,
  refusesSignature: openaiRefusesSignature,
  rateLimitResetMs: openaiRateLimitResetMs,
};
