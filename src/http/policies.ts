import type { ConfigSnapshot } from "../config/snapshot.ts";
import { buildKeyRing, type KeyRing } from "./auth.ts";
import { corsPolicy, type CorsPolicy } from "./cors.ts";
import { hostPolicy, type HostPolicy } from "./host-check.ts";

/**
 * What the middleware derives from one configuration: its admin key hashed, its CORS and Host
 * rules parsed. Client keys are the key service's (src/keys/service.ts), which also knows those
 * made with `levity keys add`.
 */
export interface SnapshotPolicies {
  adminKeys: KeyRing;
  cors: CorsPolicy;
  hosts: HostPolicy;
  /** The base a bare request path is read against: the address levity listens on. */
  urlBase: string;
}

/**
 * Derived once per snapshot rather than per request: hashing the keys each time was a measurable
 * share of a request's cost, and a key ring remembers the credentials it has proven. Keyed weakly,
 * so a snapshot replaced by a reload takes its policies with it. One cache per gateway, never
 * shared between gateways.
 */
export function policyCache(): (snapshot: ConfigSnapshot) => SnapshotPolicies {
  const derived = new WeakMap<ConfigSnapshot, SnapshotPolicies>();
  return (snapshot) => {
    let found = derived.get(snapshot);
    if (!found) {
      found = {
        adminKeys: buildKeyRing(snapshot.proxy.adminKeys),
        cors: corsPolicy(snapshot.proxy.corsOrigins),
        hosts: hostPolicy(snapshot.proxy),
        urlBase: `http://${snapshot.proxy.hostname === "0.0.0.0" ? "127.0.0.1" : snapshot.proxy.hostname}`,
      };
      derived.set(snapshot, found);
    }
    return found;
  };
}
