import { FAMILY_LIST } from "../codecs/families.ts";
import { createHash, timingSafeEqual } from "node:crypto";
import type { ClientKey, EffectiveAuthMode } from "../config/snapshot.ts";

/** One place a client may put its key; the label is what a refusal names (never the value). */
export interface PresentedCredential {
  where: string;
  value: string;
}

export interface KeyRing {
  /** Names and SHA-256 digests of the configured client keys; the keys themselves are not kept here. */
  entries: { name: string; digest: Buffer }[];
  /**
   * Credentials already proven to match, by value: a client sends the same key on every request,
   * and hashing it each time was a measurable share of a request's cost. Only matches are kept,
   * so it holds at most the configured keys and a wrong key is always hashed and compared.
   */
  proven: Map<string, string>;
}

export function buildKeyRing(keys: ClientKey[]): KeyRing {
  return {
    entries: keys.map((key) => ({ name: key.name, digest: digest(key.key) })),
    proven: new Map(),
  };
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

/** Whether a route of this class needs a client key; admin routes have their own rule. */
export function needsKey(mode: EffectiveAuthMode, authClass: "api" | "health"): boolean {
  if (mode === "off") return false;
  if (mode === "all_except_health") return authClass !== "health";
  return true;
}

// Where each family's SDKs put the key, besides Authorization (x-api-key, x-goog-api-key, ?key=).
export const KEY_HEADERS: readonly string[] = FAMILY_LIST.flatMap(
  (family) => family.clientKeyHeader ?? [],
);
const KEY_QUERIES: readonly string[] = FAMILY_LIST.flatMap((family) => family.clientKeyQuery ?? []);

// Stripped with replace rather than captured with exec: exec made a match array every request.
// The value is trimmed first, so what follows the spaces is never empty, as the capture (.+) of
// before needed it to be, and a header value holds no line break for (.+) to stop at.
const BEARER = /^bearer\s+/i;

/** The key in Authorization (Bearer or raw): the first credential presentedCredentials lists. */
export function authorizationCredential(headers: Headers): string | undefined {
  return credentialIn(headers.get("authorization"));
}

/** The key an Authorization header's value carries (Bearer or raw). */
export function credentialIn(header: string | null): string | undefined {
  const authorization = header?.trim();
  return authorization ? authorization.replace(BEARER, "").trim() : undefined;
}

/** Every credential the request carries: Authorization (Bearer or raw), x-api-key, x-goog-api-key, ?key=. */
export function presentedCredentials(headers: Headers, url: URL): PresentedCredential[] {
  const found: PresentedCredential[] = [];
  const authorization = authorizationCredential(headers);
  if (authorization) found.push({ where: "Authorization", value: authorization });
  for (const header of KEY_HEADERS) {
    const value = headers.get(header)?.trim();
    if (value) found.push({ where: header, value });
  }
  for (const parameter of KEY_QUERIES) {
    const value = url.searchParams.get(parameter);
    if (value) found.push({ where: `?${parameter}=`, value });
  }
  return found;
}

/**
 * The name of the client key that any presented credential matches, or undefined. Every
 * credential is tried, so a stale Authorization header cannot hide a valid x-api-key. Digests are
 * compared in constant time, and comparing digests keeps the length of a key from leaking.
 */
export function authenticate(ring: KeyRing, presented: PresentedCredential[]): string | undefined {
  let matched: string | undefined;
  for (const credential of presented) {
    const known = ring.proven.get(credential.value);
    if (known !== undefined) return known;
    const candidate = digest(credential.value);
    for (const entry of ring.entries) {
      if (timingSafeEqual(candidate, entry.digest) && matched === undefined) {
        matched = entry.name;
        ring.proven.set(credential.value, entry.name);
      }
    }
  }
  return matched;
}

export const ACCEPTED_PLACEMENTS: string = [
  "Authorization: Bearer <key>",
  ...KEY_HEADERS.map((header) => `${header}: <key>`),
]
  .join(", ")
  .concat(KEY_QUERIES.map((parameter) => `, or ?${parameter}=<key>`).join(""));

export function adminRefusalMessage(presented: PresentedCredential[]): string {
  const head =
    presented.length === 0
      ? "levity's admin surface needs the admin key and the request carried none."
      : "The key sent is not this levity gateway's admin key.";
  return `${head} Send proxy.admin_key from gateway.yaml as ${ACCEPTED_PLACEMENTS}; client keys (api_key, api_keys) never open it.`;
}

export function refusalMessage(presented: PresentedCredential[]): string {
  const where = [...new Set(presented.map((c) => c.where))].join(", ");
  const head =
    presented.length === 0
      ? "This levity gateway needs a client key and the request carried none."
      : `The key sent in ${where} is not one of this levity gateway's client keys.`;
  return `${head} Send a client key (proxy.api_key or one of proxy.api_keys in gateway.yaml, or one made with levity keys add) as ${ACCEPTED_PLACEMENTS}. Provider keys (OpenAI, Anthropic, Gemini) belong in gateway.yaml under upstreams, not in the client.`;
}
