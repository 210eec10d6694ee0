import { check } from "../compose.ts";
import type { Operation } from "../../codecs/names.ts";
import { OPENAI_DEFAULT_IMAGE_MODEL } from "../../codecs/images.ts";
import { textField } from "../../codecs/multipart.ts";
import { GatewayError } from "../../failure.ts";
import { estimateBodyTokens } from "../../keys/estimate.ts";
import { refusalError } from "../../keys/refusal.ts";
import type { KeyRecord } from "../../config/key-record.ts";
import type { Refusal } from "../../keys/admission.ts";
import type { KeyService } from "../../keys/service.ts";
import type { Exchange, Step } from "../exchange.ts";
import { clientAddress } from "../client-address.ts";

/*
 * A client key's rules, applied once its request is read and before any upstream is asked: where
 * it may be used from (on every route the key opens), which models it may name, and its rates and
 * budgets. Only operations that spend an upstream's tokens are counted; model lists, health and
 * the admin surface are not.
 */

const COUNTED: ReadonlySet<Operation> = new Set<Operation>([
  "generate",
  "count-tokens",
  "compact",
  "embeddings",
  "image-generation",
  "image-edit",
  "transcribe",
]);

/**
 * The model the client names, read exactly as its operation reads it (a Gemini path segment only
 * decoded: `models%2Fx` is served as "models/x", so it is checked as that); undefined when it
 * names none and the operation refuses that. An image request that names none is served by
 * OpenAI's default model, so that is the model checked.
 */
function modelOf(exchange: Exchange, operation: Operation): string | undefined {
  const match = exchange.match;
  if (!match) return undefined;
  const fromPath = match.params.model;
  if (fromPath !== undefined) {
    try {
      return decodeURIComponent(fromPath);
    } catch {
      return fromPath;
    }
  }
  const named = exchange.multipart
    ? textField(exchange.multipart, "model")
    : exchange.body?.json.model;
  if (named == null && (operation === "image-generation" || operation === "image-edit"))
    return OPENAI_DEFAULT_IMAGE_MODEL;
  return typeof named === "string" ? named : undefined;
}

/** The client's address; X-Forwarded-For is read only where a load balancer is trusted to write it. */
function addressOf(exchange: Exchange): string | undefined {
  const trusted = exchange.snapshot.proxy.trustedProxies;
  const peer = exchange.options.peer?.();
  if (trusted.length === 0) return peer;
  return clientAddress(peer, exchange.request.headers.get("x-forwarded-for"), trusted);
}

/**
 * A check, so that it runs fused with the checks after it (compose.ts): it answers nothing, it
 * only refuses, and the request passes on when it returns.
 */
export function enforceKeyLimits(keys: KeyService): Step {
  return check((exchange) => {
    const record = exchange.clientKey;
    if (!record) return undefined;
    const operation = exchange.match?.route.operation;
    const counted = operation !== undefined && COUNTED.has(operation);
    const model = counted ? modelOf(exchange, operation) : undefined;
    if (model !== undefined) exchange.trace.named(model);
    // Where a key may be used from holds on every route it opens, model lists included.
    if (record.ips && !keys.allowsAddress(record, addressOf(exchange)))
      throw new GatewayError(
        403,
        `The client key "${record.name}" may not be used from this address; it is limited to ${record.ips.join(", ")}.`,
        { type: "permission_error", code: "ip_not_allowed", headers: { "x-levity-limit": "ips" } },
      );
    if (!counted) return undefined;
    if (record.models && model !== undefined && !keys.allowsModel(record, model))
      throw new GatewayError(
        403,
        `The client key "${record.name}" may not use the model "${model.slice(0, 200)}"; it may use ${record.models.join(", ")}.`,
        {
          type: "permission_error",
          code: "model_not_allowed",
          param: "model",
          headers: { "x-levity-limit": "models" },
        },
      );
    // Counting the body is work; only a key with a token limit needs the guess.
    const estimate =
      (record.tpm !== undefined || record.dailyTokens !== undefined) && operation !== "count-tokens"
        ? estimateBodyTokens(exchange.body?.text ?? "")
        : 0;
    const refusal = keys.admit(record, exchange.requestId, estimate, operation !== "count-tokens");
    // A promise only when the counters are shared with other instances (one call to Redis).
    if (refusal instanceof Promise) return sharedVerdict(refusal, exchange, record);
    if (refusal) throw refusalError(refusal, exchange.family, record.name, Date.now());
    return undefined;
  });
}

/** In a function of its own: a closure in the check made a scope on every call, shared or not. */
function sharedVerdict(
  refusal: Promise<Refusal | undefined>,
  exchange: Exchange,
  record: KeyRecord,
): Promise<undefined> {
  return refusal.then((shared) => {
    if (shared) throw refusalError(shared, exchange.family, record.name, Date.now());
    return undefined;
  });
}
