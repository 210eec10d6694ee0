/*
 * Which addresses levity may connect to when a client, not the operator, chose the URL (an image
 * URL inlined for Gemini). Only globally reachable unicast addresses are open by default; the
 * operator's allow-list opens the rest, by network or by host name.
 */

import { lazyConstant } from "../lazy.ts";

/** Why an address is not globally reachable, or "public" when it is. */
export type AddressClass =
  | "public"
  | "unspecified"
  | "loopback"
  | "private"
  | "link-local"
  | "cgnat"
  | "multicast"
  | "reserved"
  | "invalid";

/** One parsed address: IPv4 as 4 bytes, IPv6 as 16. */
interface Bytes {
  family: 4 | 6;
  bytes: number[];
}

export interface Cidr extends Bytes {
  prefix: number;
}

/**
 * Dotted decimal, as node:net's isIP reads it (which levity used, and no longer loads for this):
 * four numbers 0-255 without leading zeros, since "010" is octal to some parsers.
 */
function parseV4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = parts.map((part) =>
    /^(?:0|[1-9]\d{0,2})$/.test(part) ? Number(part) : Number.NaN,
  );
  return bytes.every((b) => b >= 0 && b <= 255) ? bytes : undefined;
}

function parseV6(text: string): number[] | undefined {
  // A zone (fe80::1%eth0) names an interface, not a different address.
  const address = text.split("%")[0]!.toLowerCase();
  let tail: number[] = [];
  let body = address;
  // A dotted IPv4 tail (::ffff:127.0.0.1) fills the last two groups.
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (dotted) {
    const v4 = parseV4(dotted[2]!);
    if (!v4) return undefined;
    tail = v4;
    body = dotted[1]!.endsWith("::") ? dotted[1]! : dotted[1]!.slice(0, -1);
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string) => (half === "" ? [] : half.split(":"));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const wanted = 8 - tail.length / 2;
  const missing = wanted - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const words = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  const bytes: number[] = [];
  for (const word of words) {
    if (!/^[0-9a-f]{1,4}$/.test(word)) return undefined;
    const value = Number.parseInt(word, 16);
    bytes.push(value >> 8, value & 0xff);
  }
  return [...bytes, ...tail];
}

/** An IP literal as bytes (brackets and an IPv6 zone allowed), or undefined when it is not one. */
export function parseAddress(text: string): Bytes | undefined {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  if (!bare.includes(":")) {
    // A zone belongs to IPv6 alone.
    const bytes = bare.includes("%") ? undefined : parseV4(bare);
    return bytes && { family: 4, bytes };
  }
  const bytes = parseV6(bare);
  return bytes && bytes.length === 16 ? { family: 6, bytes } : undefined;
}

/** "10.0.0.0/8", "fd00::/8", or one address (a /32 or /128). */
export function parseCidr(text: string): Cidr | undefined {
  const [address, prefixText, extra] = text.trim().split("/");
  if (extra !== undefined || !address) return undefined;
  const parsed = parseAddress(address);
  if (!parsed) return undefined;
  const bits = parsed.bytes.length * 8;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  return prefix <= bits ? { ...parsed, prefix } : undefined;
}

function within(bytes: number[], network: number[], prefix: number): boolean {
  for (let bit = 0; bit < prefix; bit += 8) {
    const take = Math.min(8, prefix - bit);
    const mask = (0xff << (8 - take)) & 0xff;
    if ((bytes[bit / 8]! & mask) !== (network[bit / 8]! & mask)) return false;
  }
  return true;
}

export function cidrMatches(cidr: Cidr, address: Bytes): boolean {
  const candidate =
    cidr.family === 4 && address.family === 6 ? embeddedV4(address.bytes) : address.bytes;
  return (
    candidate !== undefined &&
    candidate.length === cidr.bytes.length &&
    within(candidate, cidr.bytes, cidr.prefix)
  );
}

const rule = (text: string, kind: AddressClass) => ({ cidr: parseCidr(text)!, kind });

interface SpecialBlocks {
  v4: ReadonlyArray<ReturnType<typeof rule>>;
  v6: ReadonlyArray<ReturnType<typeof rule>>;
  globalUnicast: Cidr;
  v4Mapped: Cidr;
  nat64: Cidr;
}

/**
 * The blocks below, parsed when an address is first classified or unwrapped: parsed as the module
 * loaded, they were about 2 ms of every start. Only a client-chosen URL, or an IPv4 network held
 * against an IPv6 peer (trusted proxies, a key's allowed addresses), needs them.
 */
const specialBlocks = lazyConstant(
  (): SpecialBlocks => ({
    v4: v4Rules(),
    v6: v6Rules(),
    globalUnicast: parseCidr("2000::/3")!,
    // Both carry an IPv4 address in their last 32 bits and reach it: as open as that address.
    v4Mapped: parseCidr("::ffff:0:0/96")!,
    nat64: parseCidr("64:ff9b::/96")!,
  }),
);

// IANA's special-purpose registries: every IPv4 block that is not globally reachable unicast.
const v4Rules = () => [
  rule("0.0.0.0/32", "unspecified"),
  rule("0.0.0.0/8", "reserved"),
  rule("10.0.0.0/8", "private"),
  rule("100.64.0.0/10", "cgnat"),
  rule("127.0.0.0/8", "loopback"),
  rule("169.254.0.0/16", "link-local"),
  rule("172.16.0.0/12", "private"),
  rule("192.0.0.0/24", "reserved"),
  rule("192.0.2.0/24", "reserved"),
  rule("192.88.99.0/24", "reserved"),
  rule("192.168.0.0/16", "private"),
  rule("198.18.0.0/15", "reserved"),
  rule("198.51.100.0/24", "reserved"),
  rule("203.0.113.0/24", "reserved"),
  rule("224.0.0.0/4", "multicast"),
  rule("240.0.0.0/4", "reserved"),
];

// IPv6 is the other way round: only global unicast (2000::/3) can be public, less the blocks
// carved out of it for documentation, protocols and tunnels that reach IPv4 indirectly.
const v6Rules = () => [
  rule("::/128", "unspecified"),
  rule("::1/128", "loopback"),
  rule("fc00::/7", "private"),
  rule("fe80::/10", "link-local"),
  rule("fec0::/10", "private"),
  rule("ff00::/8", "multicast"),
  rule("2001::/23", "reserved"),
  rule("2001:db8::/32", "reserved"),
  rule("2002::/16", "reserved"),
  rule("3fff::/20", "reserved"),
];

function embeddedV4(bytes: number[]): number[] | undefined {
  const { v4Mapped, nat64 } = specialBlocks();
  return within(bytes, v4Mapped.bytes, 96) || within(bytes, nat64.bytes, 96)
    ? bytes.slice(12)
    : undefined;
}

function classifyBytes(address: Bytes): AddressClass {
  const blocks = specialBlocks();
  if (address.family === 4)
    return (
      blocks.v4.find((r) => within(address.bytes, r.cidr.bytes, r.cidr.prefix))?.kind ?? "public"
    );
  const v4 = embeddedV4(address.bytes);
  if (v4) return classifyBytes({ family: 4, bytes: v4 });
  const special = blocks.v6.find((r) => within(address.bytes, r.cidr.bytes, r.cidr.prefix));
  if (special) return special.kind;
  const global = blocks.globalUnicast;
  return within(address.bytes, global.bytes, global.prefix) ? "public" : "reserved";
}

/** What kind of address this is; "invalid" for anything that is not an IP literal. */
export function classifyAddress(text: string): AddressClass {
  const parsed = parseAddress(text);
  return parsed ? classifyBytes(parsed) : "invalid";
}

/**
 * The operator's exceptions: networks ("10.0.0.0/8", "127.0.0.1") whose addresses may be
 * fetched, and host names ("images.internal.example", or "*.internal.example" for every name
 * under it) whose addresses may be fetched whatever they are.
 */
export class AddressAllowList {
  private readonly networks: Cidr[] = [];
  private readonly names = new Set<string>();
  private readonly suffixes: string[] = [];

  constructor(entries: readonly string[] = []) {
    for (const entry of entries) {
      const cidr = parseCidr(entry);
      if (cidr) this.networks.push(cidr);
      else if (entry.startsWith("*.")) this.suffixes.push(normalizeHost(entry.slice(1)));
      else this.names.add(normalizeHost(entry));
    }
  }

  /** A problem with one entry, for the config loader; undefined when it is usable. */
  static problemWith(entry: string): string | undefined {
    if (entry.includes("/"))
      return parseCidr(entry) ? undefined : "is not a network such as 10.0.0.0/8 or fd00::/8";
    if (parseAddress(entry)) return undefined;
    const name = entry.startsWith("*.") ? entry.slice(2) : entry;
    return /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.?$/i.test(
      name,
    )
      ? undefined
      : "is not a network (10.0.0.0/8), an address, or a host name (images.internal.example, *.internal.example)";
  }

  allowsHost(hostname: string): boolean {
    const host = normalizeHost(hostname);
    return this.names.has(host) || this.suffixes.some((suffix) => host.endsWith(suffix));
  }

  allowsAddress(address: string): boolean {
    const parsed = parseAddress(address);
    return parsed !== undefined && this.networks.some((network) => cidrMatches(network, parsed));
  }
}

function normalizeHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, "");
}
