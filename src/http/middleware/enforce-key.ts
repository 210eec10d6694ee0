import type { Operation } from "../../codecs/names.ts";
import { textField } from "../../codecs/multipart.ts";
import { GatewayError } from "../../failure.ts";
import { estimateBodyTokens } from "../../keys/estimate.ts";
import { refusalError } from "../../keys/refusal.ts";
import type { KeyService } from "../../keys/service.ts";
import type { Exchange, Step } from "../exchange.ts";

/*
 * A client key's rules, applied once its request is read and before any upstream is asked: where
 * it may be used from, which models it may name, and its rates and budgets. Only operations that
 * spend an upstream's tokens are counted; model lists, health and the admin surface are not.
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

/** The model the client names, where its dialect puts it; undefined when it names none (the operation refuses that). */
function modelOf(exchange: Exchange): string | undefined {
  const match = exchange.match;
  if (!match) return undefined;
  const fromPath = match.params.model;
  if (fromPath !== undefined) {
    try {
      return decodeURIComponent(fromPath).replace(/^models\//, "");
    } catch {
      return fromPath;
    }
  }
  if (exchange.multipart) return textField(exchange.multipart, "model");
  const model = exchange.body?.json.model;
  return typeof model === "string" ? model : undefined;
}

export function enforceKeyLimits(keys: KeyService): Step {
  return (exchange, next) => {
    const record = exchange.clientKey;
    const operation = exchange.match?.route.operation;
    if (!record || !operation || !COUNTED.has(operation)) return next();
    if (record.ips && !keys.allowsAddress(record, exchange.options.peer?.()))
      throw new GatewayError(
        403,
        `The client key "${record.name}" may not be used from this address; it is limited to ${record.ips.join(", ")}.`,
        { type: "permission_error", code: "ip_not_allowed", headers: { "x-levity-limit": "ips" } },
      );
    const model = modelOf(exchange);
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
    if (refusal instanceof Promise)
      return refusal.then((shared) => {
        if (shared) throw refusalError(shared, exchange.family, record.name, Date.now());
        return next();
      });
    if (refusal) throw refusalError(refusal, exchange.family, record.name, Date.now());
    return next();
  };
}
