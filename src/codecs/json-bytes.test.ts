import { describe, expect, test } from "bun:test";
import { mulberry32 } from "../../test/support/prng.ts";
import { indexOfBytes, isJsonObject } from "./json-bytes.ts";
import { isPlainChatDelta } from "./openai-chat/upstream.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (text: string) => encoder.encode(text);
const check = (text: string) => {
  const b = bytes(text);
  return isJsonObject(b, 0, b.length);
};

/** What JSON.parse says of the same bytes, decoded as the SSE reader decodes them. */
function parsesToObject(b: Uint8Array): boolean {
  try {
    const value = JSON.parse(decoder.decode(b));
    return typeof value === "object" && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

describe("isJsonObject", () => {
  test.each([
    ['{"a":1}', true],
    [' \t\r\n{ "a" : [ 1 , -0.5e+3 , true , false , null , "x" , { } , [ ] ] } \n', true],
    ['{"s":"\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\uD83D"}', true],
    ['{"é":"ü 日本"}', true],
    ["{}", true],
    ["[]", false], // JSON, but not an object
    ['"x"', false],
    ["1", false],
    ["", false],
    ["{", false],
    ['{"a":1', false],
    ['{"a":1}}', false],
    ['{"a":1,}', false],
    ['{"a" 1}', false],
    ["{'a':1}", false],
    ['{"a":01}', false],
    ['{"a":1.}', false],
    ['{"a":.5}', false],
    ['{"a":1e}', false],
    ['{"a":-}', false],
    ['{"a":+1}', false],
    ['{"a":tru}', false],
    ['{"a":nul}', false],
    ['{"a":"\\x"}', false],
    ['{"a":"\\u12G4"}', false],
    ['{"a":"\\u12"}', false],
    ['{"a":"tab\there"}', false], // a raw control character in a string
    ['{"a":"\u0001"}', false],
    ['{"a":[1,]}', false],
    ['{"a":[1 2]}', false],
    ['{"a":1}\u000b', false], // a vertical tab is not JSON whitespace
    ['{"a":NaN}', false],
    ["{oops", false],
  ])("%s: %p", (text, expected) => {
    expect(check(text)).toBe(expected);
    expect(parsesToObject(bytes(text))).toBe(expected);
  });

  test("a range inside a larger buffer: bytes outside it do not count", () => {
    const b = bytes('xx{"a":[1,2]}yy');
    expect(isJsonObject(b, 2, 13)).toBe(true);
    expect(isJsonObject(b, 2, 12)).toBe(false); // cut before the last brace, though one follows
    expect(isJsonObject(b, 2, 10)).toBe(false);
  });

  test("nesting deeper than 64 is left to JSON.parse (refused here)", () => {
    const deep = (n: number) => `${'{"a":'.repeat(n)}1${"}".repeat(n)}`;
    expect(check(deep(64))).toBe(true);
    expect(check(deep(65))).toBe(false);
  });

  test("agrees with JSON.parse on 30,000 seeded texts, valid and broken", () => {
    const random = mulberry32(20261126);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    const space = () => pick(["", "", "", " ", "\n", "\t", "\r\n  "]);
    const strings = [
      "",
      "t0 ",
      "é",
      "日本",
      'q"q',
      "back\\slash",
      "\u0000",
      "\u001f",
      "\uD83D\uDE00",
    ];
    const make = (depth: number): string => {
      const kind = depth > 4 ? Math.floor(random() * 4) : Math.floor(random() * 7);
      switch (kind) {
        case 0:
          return JSON.stringify(pick(strings));
        case 1:
          return String(pick([0, -1, 12, 3.25, -0.5, 1e21, 2.5e-7, 123456789]));
        case 2:
          return pick(["true", "false", "null"]);
        case 3:
          return JSON.stringify(pick(["usage", "finish_reason", "x"]));
        case 4: {
          const items = Array.from(
            { length: Math.floor(random() * 4) },
            () => space() + make(depth + 1) + space(),
          );
          return `[${items.join(",")}]`;
        }
        default: {
          const members = Array.from(
            { length: Math.floor(random() * 4) },
            () =>
              `${space()}${JSON.stringify(pick(strings))}${space()}:${space()}${make(depth + 1)}${space()}`,
          );
          return `{${members.join(",")}}`;
        }
      }
    };
    const noise = [
      0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x30, 0x2d, 0x65, 0x2e, 0x20, 0x0a, 0x01,
      0xc3, 0x80, 0x75, 0x6e,
    ];
    let valid = 0;
    for (let round = 0; round < 30_000; round++) {
      let b = bytes(`${space()}{${space()}"k":${make(0)}${space()}}${space()}`);
      // Two in three are broken on purpose: a byte changed, dropped or added.
      const mutations = Math.floor(random() * 3);
      for (let m = 0; m < mutations && b.length > 0; m++) {
        const at = Math.floor(random() * b.length);
        const op = Math.floor(random() * 3);
        const next = Array.from(b);
        if (op === 0) next[at] = pick(noise);
        else if (op === 1) next.splice(at, 1);
        else next.splice(at, 0, pick(noise));
        b = new Uint8Array(next);
      }
      const expected = parsesToObject(b);
      if (expected) valid++;
      if (isJsonObject(b, 0, b.length) !== expected)
        throw new Error(
          `disagrees with JSON.parse (${expected}) on ${JSON.stringify(decoder.decode(b))}`,
        );
    }
    // Both answers were exercised in quantity.
    expect(valid).toBeGreaterThan(8_000);
    expect(valid).toBeLessThan(25_000);
  });
});

describe("indexOfBytes", () => {
  test("finds a needle inside a range only", () => {
    const b = bytes('ab"usage"cd"usage"');
    const needle = bytes('"usage"');
    expect(indexOfBytes(b, needle, 0, b.length)).toBe(2);
    expect(indexOfBytes(b, needle, 3, b.length)).toBe(11);
    expect(indexOfBytes(b, needle, 0, 8)).toBe(-1);
    expect(indexOfBytes(b, needle, 0, 9)).toBe(2);
  });
});

describe("key rules against JSON.parse", () => {
  /** What a rule means, read from the parsed object: a watched key anywhere, at any depth. */
  function plainByParse(value: unknown): boolean {
    if (Array.isArray(value)) return value.every(plainByParse);
    if (typeof value !== "object" || value === null) return true;
    for (const [key, inner] of Object.entries(value)) {
      if (key === "error" || key === "tool_calls") return false;
      if ((key === "finish_reason" || key === "usage") && inner !== null) return false;
      if (!plainByParse(inner)) return false;
    }
    return true;
  }

  test("a plain chat delta by its bytes is one by JSON.parse too, on 20,000 seeded texts", () => {
    const random = mulberry32(4242);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    const keys = [
      "choices",
      "delta",
      "content",
      "usage",
      "finish_reason",
      "error",
      "tool_calls",
      "us\\u0061ge",
      "x",
    ];
    const make = (depth: number): string => {
      const kind = depth > 3 ? Math.floor(random() * 3) : Math.floor(random() * 5);
      if (kind === 0) return pick(["null", "null", "1", '"stop"', '"usage"', "true"]);
      if (kind === 1) return JSON.stringify(pick(["t0 ", "error", 'q"q']));
      if (kind === 2) return "null";
      if (kind === 3)
        return `[${Array.from({ length: Math.floor(random() * 3) }, () => make(depth + 1)).join(",")}]`;
      const members = Array.from(
        { length: Math.floor(random() * 4) },
        () => `"${pick(keys)}" : ${make(depth + 1)}`,
      );
      return `{${members.join(",")}}`;
    };
    let plain = 0;
    for (let round = 0; round < 20_000; round++) {
      const b = bytes(`{"k":${make(0)}}`);
      if (!isPlainChatDelta(b, 0, b.length)) continue;
      plain++;
      const parsed = JSON.parse(decoder.decode(b));
      if (!plainByParse(parsed))
        throw new Error(`called plain, but JSON.parse says not: ${decoder.decode(b)}`);
    }
    expect(plain).toBeGreaterThan(2_000);
  });
});

describe("isJsonObject with key rules (a plain chat delta)", () => {
  test.each([
    ['{"choices":[{"delta":{"content":"hi"},"finish_reason":null}]}', true],
    ['{"choices":[],"usage":null}', true],
    ['{"usage" : null}', true],
    ['{"choices":[{"finish_reason":"stop"}]}', false],
    ['{"usage":{"prompt_tokens":1}}', false],
    ['{"usage":null,"choices":[{"usage":{"total_tokens":3}}]}', false], // Moonshot's place for it
    ['{"error":{"message":"x"}}', false],
    ['{"choices":[{"delta":{"tool_calls":[]}}]}', false],
    ['{"note":"usage","text":"error"}', true], // a string that spells a name is not the key
    ['{"us\\u0061ge":{"total_tokens":3}}', false], // JSON.parse reads this key as usage
    ['{"usage":nul}', false],
  ])("%s: %p", (text, expected) => {
    expect(isPlainChatDelta(bytes(text), 0, bytes(text).length)).toBe(expected);
  });
});
