import type { ConfigSnapshot } from "./snapshot.ts";

/** One line: the upstreams, the mapping rules, the auth mode. */
export function describeSnapshot(snapshot: ConfigSnapshot): string {
  const upstreams = snapshot.upstreams.map((u) => `${u.name} (${u.protocol}, ${u.protocol === "echo" ? "built in" : `${u.accounts.length} account${u.accounts.length === 1 ? "" : "s"}`})`);
  const rules = snapshot.mappings.exact.size + snapshot.mappings.wildcards.length + (snapshot.mappings.fallback ? 1 : 0);
  return `upstreams ${upstreams.join(", ")}; ${rules} mapping rule${rules === 1 ? "" : "s"}; auth ${snapshot.proxy.effectiveAuth}`;
}
