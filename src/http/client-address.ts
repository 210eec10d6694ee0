import { type Cidr, cidrMatches, parseAddress } from "../config/address-policy.ts";

/**
 * The client's address: the connection's, or, when the connection comes from a load balancer
 * listed in proxy.trusted_proxies, the one it names in X-Forwarded-For. The header is read from
 * the right, skipping the trusted proxies' own entries: what a client writes into it itself sits
 * to the left of what the proxies append, so it can name no address it does not send from.
 */
export function clientAddress(
  peer: string | undefined,
  forwardedFor: string | null,
  trusted: readonly Cidr[],
): string | undefined {
  if (peer === undefined || trusted.length === 0 || !isTrusted(peer, trusted)) return peer;
  if (!forwardedFor) return peer;
  const hops = forwardedFor.split(",");
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!.trim();
    if (!isTrusted(hop, trusted)) return parseAddress(hop) ? hop : undefined;
  }
  // Every hop is a proxy of ours: the leftmost is as near the client as the chain tells.
  return hops[0]!.trim() || peer;
}

function isTrusted(address: string, trusted: readonly Cidr[]): boolean {
  const parsed = parseAddress(address);
  return parsed !== undefined && trusted.some((network) => cidrMatches(network, parsed));
}
