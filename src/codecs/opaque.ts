import type { Opaque } from "../ir.ts";
import type { UpstreamTarget } from "./codec.ts";
import { modelFamily } from "./model-family.ts";

/*
 * Who issued a signature: the upstream, the account group and the model family. A provider
 * verifies its signatures with the key of the model that made them (Anthropic, Gemini) or of
 * the organisation (OpenAI's encrypted_content), so a value is sent back only to an attempt with
 * the same three.
 */
export function issuerOf(upstream: string, group: string, model: string): string {
  // Three pieces where there is no group (most accounts): five made two strings an attempt.
  return group === ""
    ? `${upstream}||${modelFamily(model)}`
    : `${upstream}|${group}|${modelFamily(model)}`;
}

/** A value in an upstream's answer: stamped with the attempt's issuer, and told to whoever keeps count. */
export function issue(target: UpstreamTarget, value: string): Opaque {
  const opaque = { issuer: target.issuer, value };
  target.onIssued?.(opaque);
  return opaque;
}

/*
 * A signature that crosses dialects travels inside the client's own field for it (Anthropic
 * `signature`, Gemini `thoughtSignature`, Responses `encrypted_content`) as `lv1.<issuer>.<value>`,
 * so it comes back with the conversation and is returned only to the upstream that issued it.
 */

const PREFIX = "lv1.";

export function encodeOpaque(opaque: Opaque): string {
  return `${PREFIX}${Buffer.from(opaque.issuer).toString("base64url")}.${opaque.value}`;
}

/**
 * A signature as a client sent it back. One levity did not wrap came straight from an upstream of
 * the client's own protocol (a same-dialect exchange), so it is trusted for that protocol only.
 */
export function decodeOpaque(text: string, clientProtocol: string): Opaque {
  if (text.startsWith(PREFIX)) {
    const dot = text.indexOf(".", PREFIX.length);
    if (dot > 0) {
      const issuer = Buffer.from(text.slice(PREFIX.length, dot), "base64url").toString();
      return { issuer, value: text.slice(dot + 1) };
    }
  }
  return { issuer: `protocol:${clientProtocol}`, value: text };
}

/**
 * Whether `target` may receive this opaque value: it issued it (same upstream, account group and
 * model family), or it speaks the protocol of a value levity has not seen issued (an unwrapped
 * value a client sent back; pipeline/signatures.ts names its issuer where it was seen).
 */
export function issuedBy(opaque: Opaque | undefined, target: UpstreamTarget): opaque is Opaque {
  return (
    opaque !== undefined &&
    (opaque.issuer === target.issuer || opaque.issuer === `protocol:${target.protocol}`)
  );
}

/** Gemini's documented value for a function call whose signature is lost or was another model's: it skips the check. */
export const GEMINI_SKIP_SIGNATURE = "skip_thought_signature_validator";

/*
 * Responses reasoning as `encrypted_content`: the signature and the thinking text together, as
 * `lv2.<base64url JSON>`. Codex sends every request with store: false, include
 * ["reasoning.encrypted_content"] and, by default, no summary, so this field is all of the
 * reasoning that comes back: the text must travel in it for an upstream that checks the text
 * against its signature (Anthropic) or wants it back (DeepSeek, Kimi).
 */
const REASONING_PREFIX = "lv2.";

export function encodeReasoning(signature: Opaque | undefined, text: string): string {
  const carried = signature ? { i: signature.issuer, v: signature.value, t: text } : { t: text };
  return REASONING_PREFIX + Buffer.from(JSON.stringify(carried)).toString("base64url");
}

/** What a client's `encrypted_content` holds: levity's own form, or an upstream's opaque value as it was. */
export function decodeReasoning(
  value: string,
  clientProtocol: string,
): { signature?: Opaque; text: string } {
  if (value.startsWith(REASONING_PREFIX)) {
    try {
      const carried: unknown = JSON.parse(
        Buffer.from(value.slice(REASONING_PREFIX.length), "base64url").toString(),
      );
      if (typeof carried === "object" && carried !== null) {
        const { i, v, t } = carried as Record<string, unknown>;
        return {
          signature:
            typeof i === "string" && typeof v === "string" ? { issuer: i, value: v } : undefined,
          text: typeof t === "string" ? t : "",
        };
      }
    } catch {
      // Not levity's after all: kept as the opaque value it is.
    }
  }
  return { signature: decodeOpaque(value, clientProtocol), text: "" };
}
