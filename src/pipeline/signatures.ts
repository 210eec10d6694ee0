import { decodeOpaque, decodeReasoning, issuerOf } from "../codecs/opaque.ts";
import type { SendSignature } from "../codecs/reasoning-history.ts";
import type { UpstreamProtocol } from "../codecs/names.ts";
import type { Account, Upstream } from "../config/snapshot.ts";
import type { Opaque, Part, Turn } from "../ir.ts";
import type { Logger } from "../log.ts";
import type { Lease } from "../pool/lease.ts";
import { scrubKey } from "../scrub.ts";
import type { SignatureRegistry } from "../state/signature-registry.ts";
import type { AttemptResult } from "./serve.ts";
import { clipText } from "../clip.ts";

/*
 * Signatures across failover: a signature or encrypted reasoning goes only to the upstream,
 * account group and model family that issued it; the runners ask here what each attempt may send.
 */

/** This attempt's issuer: what it signs, and what it may be sent. */
export function attemptIssuer(upstream: Upstream, account: Account, model: string): string {
  return issuerOf(upstream.name, account.group ?? "", model);
}

/**
 * For a same-dialect body: what to send of each signature the client sent back. levity's own
 * wrapping (a translated answer's) names its issuer; a value as an upstream wrote it is looked up
 * among those levity saw issued, and goes through when levity never saw it.
 */
export function signatureSender(
  issuer: string,
  protocol: UpstreamProtocol,
  registry: SignatureRegistry,
): SendSignature {
  const seen = (value: string) => {
    const recorded = registry.issuerOf(value);
    return recorded === undefined || recorded === issuer ? value : undefined;
  };
  const ours = (opaque: Opaque | undefined) =>
    opaque === undefined
      ? undefined
      : opaque.issuer === issuer
        ? opaque.value
        : opaque.issuer === `protocol:${protocol}`
          ? seen(opaque.value)
          : undefined;
  return (value) => {
    if (value.startsWith("lv1.")) return ours(decodeOpaque(value, protocol));
    if (value.startsWith("lv2.")) return ours(decodeReasoning(value, protocol).signature);
    return seen(value);
  };
}

/** Who hears of a retry without reasoning: the log, with the request and the upstream. */
export function tellOf(
  ctx: { requestId: string },
  upstream: Upstream,
  log: Logger,
): { log: Logger; requestId: string; upstream: string } {
  return { log, requestId: ctx.requestId, upstream: upstream.name };
}

/** Leaves out every signature: the request once more after the upstream refused one. */
export const sendNoSignature: SendSignature = () => undefined;

/**
 * A translated request's unwrapped values (a same-dialect answer's, sent back by the client) are
 * only known by their protocol; where levity saw them issued, they get their issuer.
 */
export function nameIssuers(turns: Turn[], registry: SignatureRegistry): void {
  for (const turn of turns)
    for (const part of turn.parts) {
      if (part.type === "redacted_thinking") part.data = named(part.data, registry);
      else if ("signature" in part && part.signature)
        part.signature = named(part.signature, registry);
    }
}

/** A function of the module's: a closure over the registry was a function and scope a request. */
function named(opaque: Opaque, registry: SignatureRegistry): Opaque {
  if (!opaque.issuer.startsWith("protocol:")) return opaque;
  const issuer = registry.issuerOf(opaque.value);
  return issuer === undefined ? opaque : { issuer, value: opaque.value };
}

/** Whether a history holds anything withoutReasoning would leave out: otherwise it is the same history. */
export function carriesReasoning(turns: Turn[]): boolean {
  for (const turn of turns)
    for (const part of turn.parts)
      if (
        part.type === "thinking" ||
        part.type === "redacted_thinking" ||
        ("signature" in part && part.signature)
      )
        return true;
  return false;
}

/** The turns without any reasoning or signature, for the request once more after a refusal. */
export function withoutReasoning(turns: Turn[]): Turn[] {
  return turns.map((turn) => ({
    ...turn,
    parts: turn.parts
      .filter((part) => part.type !== "thinking" && part.type !== "redacted_thinking")
      .map((part): Part => {
        if (!("signature" in part) || !part.signature) return part;
        const { signature: _dropped, ...rest } = part;
        return rest;
      }),
  }));
}

/**
 * An upstream that answers that a signature in the history is invalid gets the request once
 * more on the same account, with every reasoning block and signature left out, before anything
 * reaches the client: the client never sees that refusal and the account is not blamed. Once
 * only: later attempts of this target go without reasoning from the start, and a second refusal
 * is the client's answer.
 */
export function retryWithoutReasoning(
  told: { log: Logger; requestId: string; upstream: string },
  attempt: (lease: Lease, withoutReasoning: boolean) => Promise<AttemptResult>,
): (lease: Lease) => Promise<AttemptResult> {
  let refused = false;
  return async (lease) => {
    const result = await attempt(lease, refused);
    if (refused || result.kind !== "failed" || !result.failure.signatureRefused) return result;
    refused = true;
    const words = clipText(scrubKey(result.failure.message, lease.account.key), 200);
    told.log.warn(
      `request ${told.requestId}: ${told.upstream}/${lease.account.name} refused a signature in the history (${result.failure.status}: ${words}); trying once more without reasoning`,
    );
    return attempt(lease, true);
  };
}
