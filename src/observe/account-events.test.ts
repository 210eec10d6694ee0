import { expect, test } from "bun:test";
import type { AccountEvent } from "../pool/events.ts";
import { observeAccounts } from "./account-events.ts";

const event = (account: string, over: Partial<AccountEvent> = {}): AccountEvent => ({
  upstream: "u",
  account,
  model: "m",
  failure: { kind: "server", status: 503, message: "overloaded" },
  effect: { kind: "cooling", waitMs: 2_000 },
  ...over,
});

test("each event is logged in the pool's words, at its level, and counted by account and reason", () => {
  const lines: string[] = [];
  const log = {
    info: (l: string) => lines.push(`INFO ${l}`),
    warn: (l: string) => lines.push(`WARN ${l}`),
    error() {},
  };
  const observer = observeAccounts(log);
  const events: AccountEvent[] = [
    event("a"),
    event("a"),
    event("b", {
      failure: { kind: "quota", status: 402, message: "credit balance is too low" },
      effect: { kind: "cooling", waitMs: 300_000 },
    }),
    event("c", {
      failure: { kind: "rate_limit", status: 429, message: "slow down", hintMs: 1_200 },
      effect: { kind: "cooling", waitMs: 1_200, model: "m" },
    }),
    event("d", {
      failure: { kind: "auth", status: 401, message: "no" },
      effect: { kind: "disabled", reason: "the upstream refused its key (401: no)" },
    }),
  ];
  for (const e of events) observer.accountChanged(e);
  expect(lines).toEqual([
    "INFO account u/a cooling 2 s (server: overloaded)",
    "INFO account u/a cooling 2 s (server: overloaded)",
    "WARN account u/b is out of credit (402: credit balance is too low); cooling 5 min",
    "INFO account u/c cooling 2 s for m (429 rate limited, as the upstream asked)",
    "WARN account u/d disabled: the upstream refused its key (401: no); it stays off until its key changes",
  ]);
  expect(observer.counter.list()).toEqual([
    { upstream: "u", account: "a", reason: "server", count: 2 },
    { upstream: "u", account: "b", reason: "quota", count: 1 },
    { upstream: "u", account: "c", reason: "rate_limit", count: 1 },
    { upstream: "u", account: "d", reason: "auth", count: 1 },
  ]);
});
