import { describe, expect, test } from "bun:test";
import { type Cidr, parseCidr } from "../config/address-policy.ts";
import { clientAddress } from "./client-address.ts";

const LB: Cidr[] = ["10.0.0.0/24", "::1"].map((t) => parseCidr(t)!);

describe("clientAddress", () => {
  const cases: [string, string | undefined, string | null, readonly Cidr[], string | undefined][] =
    [
      ["no trusted proxies: the connection's", "10.0.0.5", "203.0.113.9", [], "10.0.0.5"],
      ["from a trusted proxy: the hop it names", "10.0.0.5", "203.0.113.9", LB, "203.0.113.9"],
      [
        "a client's own entry to the left is not believed",
        "10.0.0.5",
        "192.168.1.1, 203.0.113.9",
        LB,
        "203.0.113.9",
      ],
      [
        "two proxies of ours: skipped from the right",
        "10.0.0.5",
        "203.0.113.9, 10.0.0.7",
        LB,
        "203.0.113.9",
      ],
      [
        "from an untrusted peer the header is ignored",
        "198.51.100.2",
        "10.1.1.1",
        LB,
        "198.51.100.2",
      ],
      ["a trusted peer without the header: the peer", "::1", null, LB, "::1"],
      ["garbage where the client should be: no address", "10.0.0.5", "not-an-ip", LB, undefined],
      ["no peer known", undefined, "203.0.113.9", LB, undefined],
    ];
  for (const [name, peer, header, trusted, expected] of cases)
    test(name, () => expect(clientAddress(peer, header, trusted)).toBe(expected));
});
