import { check } from "../compose.ts";
import type { AuthClass } from "../../config/schema.ts";
import type { KeyRecord } from "../../config/key-record.ts";
import type { KeyService } from "../../keys/service.ts";
import {
  adminRefusalMessage,
  authenticate as matchKey,
  credentialIn,
  needsKey,
  type PresentedCredential,
  KEY_HEADERS,
  presentedCredentials,
  refusalMessage,
} from "../auth.ts";
import { GatewayError } from "../../failure.ts";
import type { Exchange, Step } from "../exchange.ts";
import { isLoopbackPeer, sameOrigin } from "../host-check.ts";

/**
 * Who may call the route: the client key when one authenticated (its record for the limits, its
 * name recorded on the trace and handed to the operation); a 401 or 403 when none would do. A
 * path no route knows asks for a client key like the API does, so a caller without one cannot
 * probe which paths exist.
 */
export function authenticate(keys: KeyService): Step {
  // Authorization headers that carried a usable key, each to the key read from it: a client sends
  // the same header with every request, and reading the key out of it made a string each time.
  // Only the reading is kept: the key itself is judged anew on every request.
  const readKeys = new Map<string, string>();
  return check((exchange) => {
    const clientKey = keyFor(exchange.route?.auth ?? "api", exchange, keys, readKeys);
    exchange.clientKey = typeof clientKey === "object" ? clientKey : undefined;
    const name = typeof clientKey === "object" ? clientKey.name : clientKey;
    exchange.clientKeyName = name;
    exchange.trace.authenticated(name);
    return undefined;
  });
}

/**
 * The client key a presented credential is, if any: every credential is tried, so a stale
 * Authorization header cannot hide a valid x-api-key. A revoked or expired key is refused here,
 * by name (its holder knows it), with when it stopped working.
 */
function clientKeyOf(
  exchange: Exchange,
  keys: KeyService,
  presented: PresentedCredential[],
): KeyRecord {
  let found: KeyRecord | undefined;
  for (const credential of presented) {
    const record = keys.identify(exchange.snapshot, credential.value);
    if (record && usable(record, Date.now())) return record;
    found ??= record;
  }
  if (!found) throw new GatewayError(401, refusalMessage(presented));
  const when = (ms: number) => new Date(ms).toISOString();
  throw new GatewayError(
    401,
    found.revokedAt !== undefined
      ? `The client key "${found.name}" was revoked at ${when(found.revokedAt)}; ask this gateway's operator for a new one.`
      : `The client key "${found.name}" expired at ${when(found.expiresAt!)}; ask this gateway's operator to extend it (levity keys update ${found.name} --expires ...).`,
  );
}

function usable(record: KeyRecord, now: number): boolean {
  return (
    record.revokedAt === undefined && (record.expiresAt === undefined || now < record.expiresAt)
  );
}

function keyFor(
  authClass: AuthClass,
  exchange: Exchange,
  keys: KeyService,
  readKeys: Map<string, string>,
): KeyRecord | string | undefined {
  // exchange.url is read where a credential may be in the query, not first: the usual request's
  // key is in a header, and its URL need not be parsed.
  const { snapshot, policies, request } = exchange;
  const headers = request.headers;
  switch (authClass) {
    case "page":
      // The monitor page's shell holds no data; everything it shows comes from admin calls.
      return undefined;
    case "admin":
      return adminKeyFor(exchange);
    case "metrics": {
      // Like the API, unless metrics_public; the admin key opens it too, for a scraper run by the admin.
      if (snapshot.proxy.metricsPublic || !needsKey(snapshot.proxy.effectiveAuth, "api"))
        return undefined;
      const presented = presentedCredentials(headers, exchange.url);
      const admin = matchKey(policies.adminKeys, presented);
      return admin ?? clientKeyOf(exchange, keys, presented).name;
    }
    default: {
      if (!needsKey(snapshot.proxy.effectiveAuth, authClass)) return undefined;
      // The usual request: a usable key in Authorization, the first credential tried, is what a
      // search of every credential answers, without the list of them made for it.
      const header = headers.get("authorization");
      const known = header === null ? undefined : readKeys.get(header);
      const authorization = known ?? credentialIn(header);
      if (authorization !== undefined) {
        const record = keys.identify(snapshot, authorization);
        if (record && usable(record, Date.now())) {
          if (known === undefined && header !== null) {
            if (readKeys.size >= READ_KEYS_MAX) readKeys.clear();
            readKeys.set(header, authorization);
          }
          return record;
        }
      }
      // The other families' SDKs send theirs in a header of their own (x-api-key, x-goog-api-key),
      // which comes before ?key= in the search's order: found the same way, the URL not parsed.
      for (const name of KEY_HEADERS) {
        const value = headers.get(name)?.trim();
        if (!value) continue;
        const record = keys.identify(snapshot, value);
        if (record && usable(record, Date.now())) return record;
      }
      return clientKeyOf(exchange, keys, presentedCredentials(headers, exchange.url));
    }
  }
}

/**
 * The admin surface needs the admin key whenever one exists, whatever auth_mode says. Client keys
 * never open it: any holder could read the others' prompts. It names no key, so undefined.
 */
function adminKeyFor(exchange: Exchange): undefined {
  const { snapshot, policies, request, url, options } = exchange;
  const headers = request.headers;
  const presented = presentedCredentials(headers, url);
  if (policies.adminKeys.entries.length > 0) {
    if (!matchKey(policies.adminKeys, presented))
      throw new GatewayError(401, adminRefusalMessage(presented));
    return undefined;
  }
  if (snapshot.proxy.effectiveAuth !== "off") throw new GatewayError(403, NO_ADMIN_KEY);
  // Auth off and no admin key: the CLI on this machine (no Origin), and levity's own monitor
  // page (its Origin is the Host, which the Host check has vetted), and nothing else: no other
  // web page, no other machine (allow_insecure_lan).
  const origin = headers.get("origin");
  if (!isLoopbackPeer(options.peer?.()))
    throw new GatewayError(
      403,
      `Without proxy.admin_key, levity's admin surface answers only this machine. ${ADD_ADMIN_KEY}`,
    );
  if (origin !== null && !sameOrigin(origin, headers.get("host"))) {
    throw new GatewayError(
      403,
      `Without proxy.admin_key, levity's admin surface answers no web page but its own monitor page, and this request came from ${origin.slice(0, 200)}. ${ADD_ADMIN_KEY}`,
    );
  }
  return undefined;
}

/** Past this many Authorization headers remembered, the reading starts afresh. */
const READ_KEYS_MAX = 1_000;

const ADD_ADMIN_KEY =
  "Add proxy.admin_key to gateway.yaml (levity init writes one) and send it as the admin key.";
const NO_ADMIN_KEY = `This levity gateway has auth on and no admin key, so its admin surface is closed: client keys never open it. ${ADD_ADMIN_KEY}`;
