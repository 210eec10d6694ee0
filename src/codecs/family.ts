import type { Dialect, Family } from "./names.ts";
import { isObject } from "./json.ts";

/** Error body fields a caller may set; the rest follow from the status. */
export interface ErrorFields {
  /** Overrides the type (OpenAI `type`, Anthropic `error.type`) implied by the status. */
  type?: string;
  code?: string | null;
  param?: string | null;
  /** google.rpc details (RetryInfo, QuotaFailure, ErrorInfo): only Gemini's shape carries them. */
  rpcDetails?: unknown[];
  /** Fields OpenAI's error object carries beside the four (a usage limit's resets_at): only OpenAI's shape has them. */
  openaiExtra?: Record<string, unknown>;
}

/** How a family's API says that a prompt does not fit the model's context window. */
export interface TooLongWords {
  /** The error this family's clients get for a prompt over the window, naming the numbers when known. */
  error(
    tokens: number | undefined,
    limit: number | undefined,
  ): { message: string; fields: ErrorFields };
  /** Whether an error answer says the prompt is over the window, and the numbers it names. */
  read(status: number, body: string): { tokens?: number; limit?: number } | undefined;
}

/** A model as a model list shows it (the model catalog's entries). */
export interface ListedModel {
  id: string;
  /** The upstream that serves it, or "levity" for a mapping name. */
  ownedBy: string;
  displayName?: string;
  /** The most input tokens it accepts, and the most one answer may have, where known. */
  inputTokenLimit?: number;
  outputTokenLimit?: number;
  /** The kinds of input it reads (text, image, pdf, audio, video), where known. */
  modalities?: readonly string[];
  /** It makes embeddings rather than text (Gemini's list says embedContent; elsewhere its name says it). */
  embeds?: boolean;
}

/**
 * What the dialects of one vendor's API share, on both sides of levity: the shapes its clients
 * read (error bodies, model lists) and what its upstreams want and say (base URL, key header,
 * failure words, rate-limit headers). OpenAI-compatible providers are one family with three
 * dialects; Anthropic and Gemini are a family of one each.
 */
export interface FamilyModule {
  readonly name: Family;
  /**
   * The dialect an upstream of this family is spoken to in, and whose clients are forwarded to it
   * untouched. For the OpenAI family an upstream's configuration (apis, wire_api) can say otherwise.
   */
  readonly nativeDialect: Dialect;

  /** The error body this family's SDKs parse. */
  errorBody(status: number, message: string, fields?: ErrorFields, requestId?: string): unknown;
  /** The status a client of this family is shown for an upstream's (a 529 only Anthropic's know). */
  clientStatus(status: number): number;
  /** A request header only this family's SDK sends: on a path several SDKs share (/v1/models), it says whose client asks. */
  readonly sdkHeader?: string;
  /** Besides x-request-id, the header this family's SDK reads a request id from. */
  readonly requestIdHeader?: string;
  /** One model as this family's model endpoint describes it; `created` in Unix seconds. */
  renderModel(model: ListedModel, created: number): unknown;
  renderModelList(models: readonly ListedModel[], created: number): unknown;
  /** An upstream's model list, as its family's model endpoint answers; `ownedBy` is the upstream's name. */
  parseModelList(body: unknown, ownedBy: string): ListedModel[];

  readonly defaultBaseUrl: string;
  /**
   * What a client of this family writes after levity's own origin as its Base URL: OpenAI's SDKs
   * expect the version in it, Anthropic's and Gemini's add their own.
   */
  readonly clientBasePath: string;
  /** The header its SDKs send the key in, besides Authorization (Anthropic's x-api-key). */
  readonly clientKeyHeader?: string;
  /** The query parameter its SDKs may send the key in (Gemini's ?key=). */
  readonly clientKeyQuery?: string;
  /**
   * Headers its SDKs send from a browser, besides the key header, allowed by a preflight that
   * does not list its own.
   */
  readonly sdkHeaders: readonly string[];
  /**
   * A base URL's path as this family's official SDK writes it, with endpoint paths users paste by
   * mistake taken off, and the API version where the family keeps it out of the base (Gemini).
   */
  basePath(path: string): { path: string; apiVersion?: string };
  /** The account's key in this family's own header (and any header it requires with it). */
  accountHeaders(key: string): Record<string, string>;
  /** The model list's path under the base URL, asking for as many as one page holds. */
  modelListPath(apiVersion: string | undefined): string;
  /** Client request headers that describe the request in this family's terms (beta flags, version). */
  readonly requestHeaders: readonly string[];
  /** Answer headers (exact names, and name prefixes) this family's SDKs read: request id, rate limits. */
  readonly answerHeaders: {
    readonly names: readonly string[];
    readonly prefixes: readonly string[];
  };

  /** Words in an error answer by which this family says the key itself is bad, whatever its status. */
  rejectsKey(status: number, body: string): boolean;
  /** Words in an error answer by which this family says the account's balance is spent. */
  outOfCredit(status: number, body: string): boolean;
  /** A prompt over the model's context window: how this family says it, and how it is read back. */
  readonly contextTooLong: TooLongWords;
  /** Words in an error answer by which this family refuses a signature or encrypted reasoning in the history. */
  refusesSignature(status: number, body: string): boolean;
  /**
   * Milliseconds until the longest of the used-up rate limits (remaining 0) resets, from this
   * family's own rate-limit headers; undefined when none is used up or none is there.
   */
  rateLimitResetMs(headers: Headers, now: number): number | undefined;
}

/**
 * The longest reset among used-up limits, for families that send `<reset>` and `<remaining>`
 * header pairs per limit kind (requests, tokens, …).
 */
export function longestExhaustedReset(
  headers: Headers,
  resetName: RegExp,
  remainingName: (kind: string) => string,
  parseReset: (value: string) => number | undefined,
): number | undefined {
  let longest: number | undefined;
  headers.forEach((value, name) => {
    const kind = resetName.exec(name)?.[1];
    if (!kind) return;
    const remaining = headers.get(remainingName(kind));
    if (remaining !== null && Number(remaining) > 0) return;
    const wait = parseReset(value);
    if (wait !== undefined && !Number.isNaN(wait)) longest = Math.max(longest ?? 0, wait);
  });
  return longest;
}

/** `{data: [{id, display_name?}]}`: the model list OpenAI and Anthropic both answer with. */
export function parseDataModelList(body: unknown, ownedBy: string): ListedModel[] {
  if (!isObject(body) || !Array.isArray(body.data)) return [];
  const out: ListedModel[] = [];
  for (const model of body.data) {
    if (!isObject(model) || typeof model.id !== "string") continue;
    out.push({
      id: model.id,
      ownedBy,
      displayName: typeof model.display_name === "string" ? model.display_name : undefined,
      // Anthropic's models API says max_input_tokens and max_tokens; OpenRouter-like lists context_length.
      inputTokenLimit: tokenCount(
        model.max_input_tokens ?? model.context_window ?? model.context_length,
      ),
      outputTokenLimit: tokenCount(model.max_tokens ?? model.max_output_tokens),
    });
  }
  return out;
}

function tokenCount(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value > 0 ? value : undefined;
}

/** What the Stainless-generated SDKs (OpenAI's and Anthropic's) send about themselves. */
export const STAINLESS_HEADERS: readonly string[] = [
  "x-stainless-arch",
  "x-stainless-lang",
  "x-stainless-os",
  "x-stainless-package-version",
  "x-stainless-retry-count",
  "x-stainless-runtime",
  "x-stainless-runtime-version",
  "x-stainless-timeout",
];
