import { type FamilyModule, parseDataModelList, STAINLESS_HEADERS } from "../family.ts";
import { ANTHROPIC_DEFAULT_BASE_URL, anthropicBasePath } from "./base-url.ts";
import { DEFAULT_ANTHROPIC_VERSION } from "./endpoint.ts";
import { anthropicErrorBody } from "./error-body.ts";
import { anthropicOutOfCredit, anthropicRefusesSignature } from "./failure-words.ts";
import { anthropicModel, anthropicModelList } from "./model-list.ts";
import { anthropicRateLimitResetMs } from "./rate-limit-headers.ts";
import { anthropicTooLong } from "./too-long.ts";

export const anthropicFamily: Readonly<FamilyModule> = {
  name: "anthropic",
  nativeDialect: "anthropic-messages",
  errorBody: anthropicErrorBody,
  requestIdHeader: "request-id",
  sdkHeader: "anthropic-version",
  renderModel: anthropicModel,
  renderModelList: anthropicModelList,
  parseModelList: parseDataModelList,
  defaultBaseUrl: ANTHROPIC_DEFAULT_BASE_URL,
  clientBasePath: "",
  clientKeyHeader: "x-api-key",
  sdkHeaders: [
    "anthropic-version",
    "anthropic-beta",
    "anthropic-dangerous-direct-browser-access",
    ...STAINLESS_HEADERS,
  ],
  clientStatus: (status) => status,
  basePath: anthropicBasePath,
  accountHeaders: (key) => ({ "x-api-key": key, "anthropic-version": DEFAULT_ANTHROPIC_VERSION }),
  modelListPath: () => "/v1/models?limit=1000",
  requestHeaders: ["anthropic-version", "anthropic-beta"],
  answerHeaders: { names: ["request-id"], prefixes: ["anthropic-ratelimit-"] },
  rejectsKey: () => false,
  outOfCredit: anthropicOutOfCredit,
  contextTooLong: anthropicTooLong,
  refusesSignature: anthropicRefusesSignature,
  rateLimitResetMs: anthropicRateLimitResetMs,
};
