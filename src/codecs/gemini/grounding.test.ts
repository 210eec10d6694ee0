import { describe, expect, test } from "bun:test";
import type { Citation, Part } from "../../ir.ts";
import { groundedParts, groundingFields } from "./grounding.ts";

const page = (n: number) => ({ web: { uri: `https://p${n}.example/`, title: `p${n}.example` } });
const cite = (n: number, text: string) => ({
  url: `https://p${n}.example/`,
  title: `p${n}.example`,
  citedText: text,
});

describe("groundedParts: Gemini's byte-ranged supports as cited text", () => {
  const cases: {
    name: string;
    text: string;
    supports: { startIndex: number; endIndex: number; text?: string; chunks: number[] }[];
    want: { text: string; citations?: Citation[] }[];
  }[] = [
    {
      name: "one support over the whole text",
      text: "Levity is a gateway.",
      supports: [{ startIndex: 0, endIndex: 20, text: "Levity is a gateway.", chunks: [0, 1] }],
      want: [
        {
          text: "Levity is a gateway.",
          citations: [cite(0, "Levity is a gateway."), cite(1, "Levity is a gateway.")],
        },
      ],
    },
    {
      name: "a support in the middle leaves text on both sides",
      text: "Intro. Fact. Outro.",
      supports: [{ startIndex: 7, endIndex: 12, text: "Fact.", chunks: [1] }],
      want: [
        { text: "Intro. " },
        { text: "Fact.", citations: [cite(1, "Fact.")] },
        { text: " Outro." },
      ],
    },
    {
      name: "offsets count UTF-8 bytes, not characters",
      text: "Café crème. Fact.",
      supports: [{ startIndex: 14, endIndex: 19, text: "Fact.", chunks: [0] }],
      want: [{ text: "Café crème. " }, { text: "Fact.", citations: [cite(0, "Fact.")] }],
    },
    {
      name: "overlapping supports: the earlier keeps its bytes",
      text: "Alpha beta.",
      supports: [
        { startIndex: 0, endIndex: 6, chunks: [0] },
        { startIndex: 3, endIndex: 11, chunks: [1] },
      ],
      want: [
        { text: "Alpha ", citations: [{ url: "https://p0.example/", title: "p0.example" }] },
        { text: "beta." },
      ],
    },
    {
      name: "a support past the text, or naming no known page, is ignored",
      text: "Short.",
      supports: [
        { startIndex: 0, endIndex: 99, chunks: [0] },
        { startIndex: 0, endIndex: 6, chunks: [7] },
      ],
      want: [{ text: "Short." }],
    },
  ];
  for (const c of cases)
    test(c.name, () => {
      const grounding = {
        webSearchQueries: ["q"],
        groundingChunks: [page(0), page(1)],
        groundingSupports: c.supports.map((s) => ({
          segment: { startIndex: s.startIndex, endIndex: s.endIndex, text: s.text },
          groundingChunkIndices: s.chunks,
        })),
      };
      const parts = groundedParts([{ type: "text", text: c.text }], { grounding });
      const texts: Part[] = parts.filter((p) => p.type === "text");
      expect(texts).toEqual(c.want.map((w): Part => ({ type: "text", ...w })));
      expect(parts.slice(0, 2)).toMatchObject([
        { type: "server_tool_call", kind: "web_search", input: '{"query":"q"}' },
        {
          type: "server_tool_result",
          results: [{ url: "https://p0.example/" }, { url: "https://p1.example/" }],
        },
      ]);
    });

  test("thinking first, searches, text, then function calls; URL context as web fetch", () => {
    const parts = groundedParts(
      [
        { type: "text", text: "a" },
        { type: "tool_call", id: "c1", name: "f", arguments: "{}" },
        { type: "thinking", text: "t" },
      ],
      {
        urlContext: {
          urlMetadata: [
            {
              retrievedUrl: "https://ok.example/",
              urlRetrievalStatus: "URL_RETRIEVAL_STATUS_SUCCESS",
            },
            {
              retrievedUrl: "https://no.example/",
              urlRetrievalStatus: "URL_RETRIEVAL_STATUS_ERROR",
            },
          ],
        },
      },
    );
    expect(parts.map((p) => p.type)).toEqual([
      "thinking",
      "server_tool_call",
      "server_tool_result",
      "server_tool_call",
      "server_tool_result",
      "text",
      "tool_call",
    ]);
    expect(parts[2]).toMatchObject({
      kind: "web_fetch",
      results: [{ url: "https://ok.example/" }],
    });
    expect(parts[4]).toMatchObject({ kind: "web_fetch", results: [], error: "url_not_accessible" });
  });
});

describe("groundingFields: another upstream's search as Gemini's metadata", () => {
  test("queries, pages once each, supports in bytes over the whole text", () => {
    const fields = groundingFields(
      [
        {
          type: "server_tool_call",
          id: "s1",
          name: "web_search",
          kind: "web_search",
          input: '{"query":"q"}',
        },
        {
          type: "server_tool_result",
          callId: "s1",
          kind: "web_search",
          results: [{ url: "https://p0.example/" }],
        },
      ],
      [{ text: "Café. " }, { text: "Fact.", citations: [cite(0, "Fact."), cite(1, "Fact.")] }],
      0,
    );
    expect(fields).toEqual({
      groundingMetadata: {
        webSearchQueries: ["q"],
        groundingChunks: [page(0), page(1)],
        groundingSupports: [
          {
            segment: { partIndex: 0, startIndex: 7, endIndex: 12, text: "Fact." },
            groundingChunkIndices: [0, 1],
          },
        ],
      },
    });
  });

  test("no search and no citation: nothing", () => {
    expect(groundingFields([], [{ text: "plain" }])).toEqual({});
  });
});
