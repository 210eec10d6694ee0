import type { Opaque } from "../ir.ts";
import type { UpstreamTarget } from "./shared.ts";

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

/** Whether `target` may receive this opaque value: it issued it, or it speaks the protocol the value came from. */
export function issuedBy(opaque: Opaque | undefined, target: UpstreamTarget): opaque is Opaque {
  return opaque !== undefined && (opaque.issuer === target.name || opaque.issuer === `protocol:${target.protocol}`);
}
