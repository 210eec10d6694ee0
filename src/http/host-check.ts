import { hostname as machineName, networkInterfaces } from "node:os";
import type { ProxySettings } from "../config/snapshot.ts";

/*
 * DNS rebinding: a web page on evil.example.com re-points its own name at 127.0.0.1, and the
 * browser then treats levity as that page's own origin, so its reads carry no Origin and CORS never
 * applies. What the browser cannot hide is the name it connected by: the Host header. So every
 * request must name levity by a name no outside page controls: loopback names, the address levity
 * is bound to, this machine's own addresses (on the LAN), or a name the operator listed.
 */

export interface HostPolicy {
  bound: string;
  lan: boolean;
  /** proxy.allowed_hosts, lower case; `*.example.com` admits every name under example.com. */
  allowed: string[];
  /**
   * Host headers this policy admitted by itself, as they were written, so that the same Host on
   * the next request needs no URL parsed (as it did on every request before). A policy is made
   * per configuration, so a reload starts it empty.
   */
  admitted?: Set<string>;
}

export function hostPolicy(proxy: ProxySettings): HostPolicy {
  return {
    bound: proxy.hostname,
    lan: proxy.allowLanAccess,
    allowed: proxy.allowedHosts,
    admitted: new Set(),
  };
}

// One host and an optional port, nothing more: `@`, `/` or spaces would let a URL parser read another host out of it.
const HOST_SHAPE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:[0-9]{0,5})?$/;

/** The host name of a Host header, canonical (lower case, IP literals normalised, no trailing dot); undefined when it is not one. */
export function hostNameOf(header: string): string | undefined {
  if (!HOST_SHAPE.test(header)) return undefined;
  try {
    const name = new URL(`http://${header}/`).hostname;
    return name.endsWith(".") ? name.slice(0, -1) : name;
  } catch {
    return undefined;
  }
}

function isLoopbackName(name: string): boolean {
  if (name === "localhost" || name.endsWith(".localhost") || name === "[::1]") return true;
  // The URL parser has already turned every IPv4 spelling into dotted quads.
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** This machine's addresses and name, as a Host header would carry them. Read on each use: DHCP can change them. */
function ownNames(): Set<string> {
  const names = new Set<string>();
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? [])
      names.add(address.family === "IPv6" ? `[${address.address.split("%")[0]}]` : address.address);
  }
  const name = machineName().toLowerCase();
  if (name) names.add(name).add(`${name}.local`);
  return names;
}

function listed(allowed: string[], name: string): boolean {
  return allowed.some(
    (entry) => entry === name || (entry.startsWith("*.") && name.endsWith(entry.slice(1))),
  );
}

/**
 * Whether a request naming this Host may be served. A request with no Host at all (HTTP/1.0) is
 * admitted: browsers always send one, so no web page can make such a request.
 */
export function hostAdmitted(policy: HostPolicy, header: string | null): boolean {
  if (header === null) return true;
  const known = policy.admitted;
  if (known?.has(header)) return true;
  const name = hostNameOf(header);
  if (name === undefined) return false;
  if (isLoopbackName(name) || name === policy.bound || listed(policy.allowed, name)) {
    // Admitted by the policy alone, not by this machine's addresses (which can change).
    if (known) {
      if (known.size >= ADMITTED_MAX) known.clear();
      known.add(header);
    }
    return true;
  }
  return policy.lan && ownNames().has(name);
}

const ADMITTED_MAX = 1_000;

/** The refusal's text; the Host is quoted only when it is a plain host, so no header text reaches the log as written. */
export function hostRefusalMessage(header: string): string {
  const shown =
    HOST_SHAPE.test(header) && header.length <= 260 ? `"${header}"` : "this request's Host header";
  return (
    `levity does not answer to ${shown}: only loopback names, the address it listens on, and the names in proxy.allowed_hosts are served, ` +
    `so that a web page cannot reach it through a DNS name of its own. If you reach levity by this name, add it to proxy.allowed_hosts in gateway.yaml.`
  );
}

/** Whether `origin` (a browser's Origin header) is the origin the request itself was sent to: levity's own pages. */
export function sameOrigin(origin: string, host: string | null): boolean {
  if (host === null) return false;
  try {
    return new URL(origin).host === new URL(`http://${host}/`).host;
  } catch {
    return false;
  }
}

/** A peer address on this machine: 127.0.0.0/8, ::1, or either written as IPv4-mapped IPv6. */
export function isLoopbackPeer(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith("::ffff:") ? address.slice(7) : address;
  return v4.startsWith("127.") || address === "::1";
}
