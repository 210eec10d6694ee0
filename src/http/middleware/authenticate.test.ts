import { describe, expect, test } from "bun:test";
import type { AuthClass } from "../../config/schema.ts";
import type { EffectiveAuthMode } from "../../config/snapshot.ts";
import { RequestTrace } from "../../observe/trace.ts";
import { buildKeyRing } from "../auth.ts";
import { GatewayError } from "../../failure.ts";
import type { Exchange } from "../exchange.ts";
import { authenticate } from "./authenticate.ts";
import { KeyService } from "../../keys/service.ts";
import { memoryKeyStore } from "../../keys/key-store.ts";
import { memoryCounterStore } from "../../keys/counter-store.ts";

const CLIENT = "sk-client-0123456789";
const ADMIN = "sk-admin-0123456789";
const OTHER = "sk-other-0123456789";

interface Case {
  name: string;
  /** undefined: no route matched the path. */
  auth: AuthClass | undefined;
  mode: EffectiveAuthMode;
  adminKey?: boolean;
  metricsPublic?: boolean;
  headers?: Record<string, string>;
  query?: string;
  peer?: string;
  /** The request's URL must not be parsed: a key in a header is found without it. */
  urlUnread?: boolean;
  /** The client key's name handed on, or the status of the refusal. */
  expected: { key: string | undefined } | { status: number; message?: RegExp };
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

const cases: Case[] = [
  {
    name: "api, strict, client key",
    auth: "api",
    mode: "strict",
    headers: bearer(CLIENT),
    expected: { key: "client" },
  },
  {
    name: "api, strict, key in x-api-key",
    auth: "api",
    mode: "strict",
    headers: { "x-api-key": CLIENT },
    expected: { key: "client" },
  },
  {
    name: "api, strict, key in x-api-key, found without parsing the URL",
    auth: "api",
    mode: "strict",
    headers: { "x-api-key": CLIENT },
    urlUnread: true,
    expected: { key: "client" },
  },
  {
    name: "api, strict, key in x-goog-api-key, found without parsing the URL",
    auth: "api",
    mode: "strict",
    headers: { "x-goog-api-key": ` ${OTHER} ` },
    urlUnread: true,
    expected: { key: "other" },
  },
  {
    name: "api, strict, an unknown Authorization does not hide a good x-api-key",
    auth: "api",
    mode: "strict",
    headers: { ...bearer("sk-unknown-0000"), "x-api-key": OTHER },
    urlUnread: true,
    expected: { key: "other" },
  },
  {
    name: "api, strict, Authorization and x-api-key both good: Authorization's, first in order",
    auth: "api",
    mode: "strict",
    headers: { ...bearer(CLIENT), "x-api-key": OTHER },
    expected: { key: "client" },
  },
  {
    name: "api, strict, x-api-key before ?key= in order",
    auth: "api",
    mode: "strict",
    headers: { "x-api-key": OTHER },
    query: `?key=${CLIENT}`,
    expected: { key: "other" },
  },
  {
    name: "api, strict, key in ?key=",
    auth: "api",
    mode: "strict",
    query: `?key=${CLIENT}`,
    expected: { key: "client" },
  },
  {
    name: "api, strict, no key",
    auth: "api",
    mode: "strict",
    expected: { status: 401, message: /carried none/ },
  },
  {
    name: "api, strict, wrong key names where it was sent",
    auth: "api",
    mode: "strict",
    headers: { "x-goog-api-key": "nope" },
    expected: { status: 401, message: /sent in x-goog-api-key/ },
  },
  {
    name: "api, strict, the admin key is not a client key",
    auth: "api",
    mode: "strict",
    adminKey: true,
    headers: bearer(ADMIN),
    expected: { status: 401 },
  },
  { name: "api, auth off, no key needed", auth: "api", mode: "off", expected: { key: undefined } },
  {
    name: "an unknown path asks for a client key like the API",
    auth: undefined,
    mode: "strict",
    expected: { status: 401 },
  },
  {
    name: "health, all_except_health, no key",
    auth: "health",
    mode: "all_except_health",
    expected: { key: undefined },
  },
  { name: "health, strict, no key", auth: "health", mode: "strict", expected: { status: 401 } },
  { name: "page never needs a key", auth: "page", mode: "strict", expected: { key: undefined } },
  {
    name: "metrics, strict, client key",
    auth: "metrics",
    mode: "strict",
    headers: bearer(CLIENT),
    expected: { key: "client" },
  },
  {
    name: "metrics, strict, admin key",
    auth: "metrics",
    mode: "strict",
    adminKey: true,
    headers: bearer(ADMIN),
    expected: { key: "admin" },
  },
  {
    name: "metrics, strict, public",
    auth: "metrics",
    mode: "strict",
    metricsPublic: true,
    expected: { key: undefined },
  },
  { name: "metrics, strict, no key", auth: "metrics", mode: "strict", expected: { status: 401 } },
  {
    name: "admin, with an admin key, sent",
    auth: "admin",
    mode: "off",
    adminKey: true,
    headers: bearer(ADMIN),
    expected: { key: undefined },
  },
  {
    name: "admin, with an admin key, a client key does not open it",
    auth: "admin",
    mode: "strict",
    adminKey: true,
    headers: bearer(CLIENT),
    expected: { status: 401, message: /not this levity gateway's admin key/ },
  },
  {
    name: "admin, with an admin key, none sent, even with auth off",
    auth: "admin",
    mode: "off",
    adminKey: true,
    peer: "127.0.0.1",
    expected: { status: 401 },
  },
  {
    name: "admin, no admin key, auth on: closed",
    auth: "admin",
    mode: "strict",
    headers: bearer(CLIENT),
    peer: "127.0.0.1",
    expected: { status: 403, message: /admin surface is closed/ },
  },
  {
    name: "admin, no admin key, auth off, this machine",
    auth: "admin",
    mode: "off",
    peer: "127.0.0.1",
    expected: { key: undefined },
  },
  {
    name: "admin, no admin key, auth off, IPv4-mapped loopback",
    auth: "admin",
    mode: "off",
    peer: "::ffff:127.0.0.1",
    expected: { key: undefined },
  },
  {
    name: "admin, no admin key, auth off, another machine",
    auth: "admin",
    mode: "off",
    peer: "192.168.1.9",
    expected: { status: 403, message: /answers only this machine/ },
  },
  {
    name: "admin, no admin key, auth off, no peer known",
    auth: "admin",
    mode: "off",
    expected: { status: 403 },
  },
  {
    name: "admin, no admin key, auth off, levity's own page",
    auth: "admin",
    mode: "off",
    peer: "127.0.0.1",
    headers: { origin: "http://127.0.0.1:8080" },
    expected: { key: undefined },
  },
  {
    name: "admin, no admin key, auth off, another page",
    auth: "admin",
    mode: "off",
    peer: "127.0.0.1",
    headers: { origin: "http://evil.example" },
    expected: { status: 403, message: /came from http:\/\/evil\.example/ },
  },
];

function exchangeFor(c: Case): Exchange {
  const request = new Request(`http://127.0.0.1:8080/p${c.query ?? ""}`, {
    headers: { host: "127.0.0.1:8080", ...c.headers },
  });
  const exchange = {
    request,
    url: new URL(request.url),
    snapshot: {
      proxy: {
        effectiveAuth: c.mode,
        metricsPublic: c.metricsPublic ?? false,
        clientKeys: [
          { name: "client", key: CLIENT },
          { name: "other", key: OTHER },
        ],
      },
    },
    policies: {
      adminKeys: buildKeyRing(c.adminKey ? [{ name: "admin", key: ADMIN }] : []),
    },
    options: { peer: () => c.peer },
    route: c.auth && { auth: c.auth },
    trace: new RequestTrace("req_1", "GET", "/p", { started: () => {}, finished: () => {} }),
  };
  if (c.urlUnread)
    Object.defineProperty(exchange, "url", {
      get() {
        throw new Error("the URL was parsed");
      },
    });
  return exchange as unknown as Exchange;
}

describe("authenticate", () => {
  for (const c of cases)
    test(c.name, async () => {
      const exchange = exchangeFor(c);
      const outcome = await Promise.resolve()
        .then(() =>
          authenticate(new KeyService(memoryKeyStore(), memoryCounterStore()))(exchange, () =>
            Promise.resolve(new Response("passed on")),
          ),
        )
        .catch((error: unknown) => error);
      if ("status" in c.expected) {
        expect(outcome).toBeInstanceOf(GatewayError);
        expect((outcome as GatewayError).status).toBe(c.expected.status);
        expect((outcome as GatewayError).message).toMatch(c.expected.message ?? /./);
        return;
      }
      expect(await (outcome as Response).text()).toBe("passed on");
      expect(exchange.clientKeyName).toBe(c.expected.key as string);
    });
});
