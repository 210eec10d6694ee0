import { describe, expect, test } from "bun:test";
import {
  broken,
  classifyStatus,
  cutShort,
  emptyAnswer,
  type FailureKind,
  type FailureWords,
  failureOf,
  GatewayError,
  offProtocol,
  unreachable,
} from "./failure.ts";

const WORDS: FailureWords = {
  rejectsKey: (status, body) => status === 400 && body.includes("API_KEY_INVALID"),
  outOfCredit: (status, body) => status === 429 && body.includes("insufficient_quota"),
};

describe("classifyStatus", () => {
  const cases: [number, string, FailureKind][] = [
    [401, "", "auth"],
    [403, "", "auth"],
    [400, "API_KEY_INVALID", "auth"],
    [400, "a bad field", "final"],
    [402, "", "quota"],
    [429, "insufficient_quota", "quota"],
    [429, "slow down", "rate_limit"],
    [408, "", "timeout"],
    [500, "", "server"],
    [503, "", "server"],
    [529, "", "server"],
    [501, "", "final"],
    [505, "", "final"],
    [404, "", "final"],
    [413, "", "final"],
    [422, "", "final"],
  ];
  for (const [status, body, kind] of cases)
    test(`${status} ${body || "(no words)"} is ${kind}`, () => {
      expect(classifyStatus(status, body, WORDS)).toBe(kind);
    });

  test("without a family's words, a 400 naming a bad key is the client's to fix", () => {
    expect(classifyStatus(400, "API_KEY_INVALID")).toBe("final");
    expect(classifyStatus(429, "insufficient_quota")).toBe("rate_limit");
  });
});

describe("failureOf", () => {
  const cases: {
    name: string;
    error: unknown;
    kind: FailureKind;
    status: number;
    message: string;
  }[] = [
    {
      name: "a carried failure as it is",
      error: unreachable("timeout", 'upstream "u" sent no response within 5 s'),
      kind: "timeout",
      status: 504,
      message: 'upstream "u" sent no response within 5 s',
    },
    {
      name: "a network failure is a 502",
      error: unreachable("network", "could not reach"),
      kind: "network",
      status: 502,
      message: "could not reach",
    },
    {
      name: "a broken answer",
      error: broken("over the limit"),
      kind: "broken",
      status: 502,
      message: "over the limit",
    },
    {
      name: "a codec's finding gets the upstream's name",
      error: offProtocol("the upstream sent a stream event that is not JSON: {oops"),
      kind: "broken",
      status: 502,
      message:
        'upstream "up" answered outside its protocol: the upstream sent a stream event that is not JSON: {oops',
    },
    {
      name: "a cut stream is named as one",
      error: cutShort("the upstream's stream ended before message_stop"),
      kind: "broken",
      status: 502,
      message: `upstream "up" broke off its stream: the upstream's stream ended before message_stop`,
    },
    {
      name: "anything else thrown while reading is a broken stream",
      error: new TypeError("terminated"),
      kind: "broken",
      status: 502,
      message: 'upstream "up" broke off its stream: terminated',
    },
  ];
  for (const c of cases)
    test(c.name, () => {
      const failure = failureOf(c.error, "up");
      expect(failure).toEqual({ kind: c.kind, status: c.status, message: c.message });
    });

  test("a refusal of the client's request is thrown on, never an account's failure", () => {
    const refusal = new GatewayError(400, "that image URL may not be fetched");
    expect(() => failureOf(refusal, "up")).toThrow(refusal);
  });
});

test("an empty answer is worded once, with what the upstream reported", () => {
  expect(emptyAnswer("up")).toEqual({
    kind: "empty",
    status: 502,
    message: 'upstream "up" answered with no content',
  });
  expect(emptyAnswer("up", "5 tokens in, 0 out").message).toBe(
    'upstream "up" answered with no content (5 tokens in, 0 out)',
  );
});
