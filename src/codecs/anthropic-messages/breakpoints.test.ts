import { describe, expect, test } from "bun:test";
import { placeBreakpoints } from "./breakpoints.ts";

type Body = Record<string, unknown>;
const E = { type: "ephemeral" };
const H = { type: "ephemeral", ttl: "1h" };

const text = (t: string, cache?: object) => ({
  type: "text",
  text: t,
  ...(cache ? { cache_control: cache } : {}),
});
const user = (...content: object[]) => ({ role: "user", content });
const assistant = (...content: object[]) => ({ role: "assistant", content });

/** Where the marks are after placing: "tools.N", "system.N", "messages.M.N", with their TTL. */
function marks(body: Body): string[] {
  const found: string[] = [];
  const scan = (list: unknown, at: string) => {
    if (!Array.isArray(list)) return;
    list.forEach((item, i) => {
      const control = (item as Body).cache_control as Body | undefined;
      if (control) found.push(`${at}.${i}${control.ttl ? `:${control.ttl}` : ""}`);
    });
  };
  scan(body.tools, "tools");
  scan(body.system, "system");
  for (const [i, m] of (body.messages as Body[]).entries()) scan(m.content, `messages.${i}`);
  return found;
}

const conversation = (): Body => ({
  tools: [{ name: "a" }, { name: "b" }],
  system: [text("s1"), text("s2")],
  messages: [
    user(text("u0")),
    assistant(text("a1")),
    user({ type: "tool_result", tool_use_id: "t" }, text("u2")),
    assistant(text("a3")),
    user(text("u4a"), text("u4b")),
  ],
});

const CASES: [string, () => Body, boolean, string[]][] = [
  [
    "automatic: last tool, last system block, last block of the last two user turns",
    conversation,
    true,
    ["tools.1", "system.1", "messages.2.1", "messages.4.1"],
  ],
  ["automatic off: none", conversation, false, []],
  [
    "automatic without tools or system: the last two user turns only",
    () => ({ messages: [user(text("u0")), assistant(text("a1")), user(text("u2"))] }),
    true,
    ["messages.0.0", "messages.2.0"],
  ],
  [
    "a first turn: one user turn",
    () => ({ system: [text("s")], messages: [user(text("u0"))] }),
    true,
    ["system.0", "messages.0.0"],
  ],
  [
    "the client's own marks are kept, and none added",
    () => ({ ...conversation(), system: [text("s1", E), text("s2")] }),
    true,
    ["system.0"],
  ],
  [
    "more than four: the last four stay",
    () => ({
      tools: [{ name: "a", cache_control: E }],
      system: [text("s1", E)],
      messages: [user(text("u0", E)), assistant(text("a1", E)), user(text("u2", E))],
    }),
    false,
    ["system.0", "messages.0.0", "messages.1.0", "messages.2.0"],
  ],
  [
    "a 1-hour mark after a 5-minute one becomes a 5-minute one",
    () => ({ system: [text("s1", H), text("s2", E)], messages: [user(text("u0", H))] }),
    false,
    ["system.0:1h", "system.1", "messages.0.0"],
  ],
  [
    "1-hour marks before 5-minute ones stay",
    () => ({ tools: [{ name: "a", cache_control: H }], messages: [user(text("u0", E))] }),
    false,
    ["tools.0:1h", "messages.0.0"],
  ],
];

describe("placeBreakpoints", () => {
  test.each(CASES)("%s", (_name, make, auto, expected) => {
    const body = make();
    placeBreakpoints(body, auto);
    expect(marks(body)).toEqual(expected);
  });
});
