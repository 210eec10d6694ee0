import { GEMINI_KEY_QUERY } from "./endpoint.ts";
import type { FamilyModule } from "../family.ts";
import { GEMINI_DEFAULT_API_VERSION, GEMINI_DEFAULT_BASE_URL, geminiBasePath } from "./base-url.ts";
import { geminiErrorBody } from "./error-body.ts";
import { geminiRefusesSignature, geminiRejectsKey } from "./failure-words.ts";
import { geminiModel, geminiModelList, parseGeminiModelList } from "./model-list.ts";
import { geminiTooLong } from "./too-long.ts";

export const geminiFamily: Readonly<FamilyModule> = {
  name: "gemini",
  nativeDialect: "gemini",
  errorBody: geminiErrorBody,
  sdkHeader: "x-goog-api-key",
  renderModel: geminiModel,
  renderModelList: geminiModelList,
  parseModelList: parseGeminiModelList,
  defaultBaseUrl: GEMINI_DEFAULT_BASE_URL,
  clientBasePath: "",
  clientKeyHeader: "x-goog-api-key",
  clientKeyQuery: GEMINI_KEY_QUERY,
  sdkHeaders: ["x-goog-api-client"],
  // Anthropic's 529 (overloaded) is a 503 to SDKs that have no such status.
  clientStatus: (status) => (status === 529 ? 503 : status),
  basePath: geminiBasePath,
  accountHeaders: (key) => ({ "x-goog-api-key": key }),
  modelListPath: (apiVersion) =>
    `/${apiVersion ?? GEMINI_DEFAULT_API_VERSION}/models?pageSize=1000`,
  requestHeaders: [],
  answerHeaders: { names: [], prefixes: [] },
  rejectsKey: geminiRejectsKey,
  outOfCredit: () => false,
  contextTooLong: geminiTooLong,
  refusesSignature: geminiRefusesSignature,
  // Gemini sends no rate-limit headers; its wait comes in the error body's RetryInfo.
  rateLimitResetMs: () => undefined,
};
