import { OPENAI_APIS } from "../codecs/openai-compatible/index.ts";
import type { ConfigSnapshot, Upstream } from "./snapshot.ts";

/** One line: the upstreams, the mapping rules, the auth mode. */
export function describeSnapshot(snapshot: ConfigSnapshot): string {
  const upstreams = snapshot.upstreams.map(
    (u) =>
      `${u.name} (${u.protocol}, ${u.protocol === "echo" ? "built in" : `${u.accounts.length} account${u.accounts.length === 1 ? "" : "s"}`})`,
  );
  const rules =
    snapshot.mappings.exact.size +
    snapshot.mappings.wildcards.length +
    (snapshot.mappings.fallback ? 1 : 0);
  return `upstreams ${upstreams.join(", ")}; ${rules} mapping rule${rules === 1 ? "" : "s"}; auth ${snapshot.proxy.effectiveAuth}`;
}

/**
 * For an OpenAI-compatible upstream: which client APIs are forwarded as they are, which are
 * translated and to what, and whose dialect differences apply (and where each came from).
 */
export function describeOpenAIServing(upstream: Upstream): string | undefined {
  const family = upstream.openai;
  if (!family) return undefined;
  const translated = OPENAI_APIS.filter((api) => !family.apis.includes(api));
  const forwarded = `forwards ${family.apis.join(", ")}${family.apisConfigured ? " (apis)" : family.profile === "openai" || family.profile === "azure" ? ` (${family.profile} serves all three)` : " (default: chat only; set apis: to forward more)"}`;
  const rest =
    translated.length > 0 ? `; translates ${translated.join(", ")} through ${family.wireApi}` : "";
  return `${forwarded}${rest}; profile ${family.profile}${family.profileConfigured ? "" : " (from the base URL)"}`;
}
