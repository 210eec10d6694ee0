import { pagesFor } from "./gemini-grounding.ts";

/*
 * What Anthropic answers when a request gives it the web_search tool, as its documentation shows
 * it: a server_tool_use block (id srvtoolu_…, input {query}), a web_search_tool_result block
 * listing web_search_result entries (url, title, encrypted_content, page_age), then text whose
 * citations are web_search_result_location entries (url, title, encrypted_index, cited_text),
 * and usage.server_tool_use.web_search_requests. Streamed: the call's input as input_json_delta,
 * the result block whole in its content_block_start, each citation as a citations_delta before
 * the cited text. Anthropic refuses a result sent back whose encrypted content it did not issue.
 * The fake's searches are scripted: the same two pages the other fakes find.
 */

export const ENCRYPTED_PREFIX = "anthropic-enc-";

export function searchesWebSearch(body: any): boolean {
  return (body.tools ?? []).some((t: any) => /^web_search_\d{8}$/.test(String(t?.type)));
}

export function webSearchBlocks(prompt: string, answer: string): any[] {
  const query = (/query:\s*(.+)$/im.exec(prompt)?.[1] ?? prompt).trim().slice(0, 100);
  const pages = pagesFor(query).map((p, i) => ({
    url: p.uri.replace(/^.*\//, "https://anthropic-pages.example/"),
    title: p.title,
    encrypted: `${ENCRYPTED_PREFIX}${i}`,
  }));
  return [
    { type: "server_tool_use", id: "srvtoolu_fake1", name: "web_search", input: { query } },
    {
      type: "web_search_tool_result",
      tool_use_id: "srvtoolu_fake1",
      content: pages.map((p) => ({
        type: "web_search_result",
        url: p.url,
        title: p.title,
        encrypted_content: p.encrypted,
        page_age: "2 days ago",
      })),
    },
    {
      type: "text",
      text: answer,
      citations: pages.map((p, i) => ({
        type: "web_search_result_location",
        url: p.url,
        title: p.title,
        encrypted_index: `anthropic-idx-${i}`,
        cited_text: answer.slice(0, 150),
      })),
    },
  ];
}

/** A search result in the history that Anthropic did not issue, described as its refusal says it. */
export function foreignSearchResult(messages: any[]): string | undefined {
  for (const [i, message] of messages.entries())
    for (const block of Array.isArray(message.content) ? message.content : [])
      if (block.type === "web_search_tool_result" && Array.isArray(block.content))
        for (const result of block.content)
          if (!String(result.encrypted_content).startsWith(ENCRYPTED_PREFIX))
            return `messages.${i}: web_search_tool_result has invalid encrypted_content`;
  return undefined;
}

/** A streamed block's events, for the blocks only web search adds (and cited text). */
export function webSearchBlockEvents(
  block: any,
  index: number,
  event: (data: { type: string; [field: string]: unknown }) => string,
  words: (text: string) => string[],
): string[] | undefined {
  if (block.type === "server_tool_use")
    return [
      event({ type: "content_block_start", index, content_block: { ...block, input: {} } }),
      event({
        type: "content_block_delta",
        index,
        delta: { type: "input_json_delta", partial_json: JSON.stringify(block.input) },
      }),
    ];
  if (block.type === "web_search_tool_result")
    return [event({ type: "content_block_start", index, content_block: block })];
  if (block.type === "text" && block.citations)
    return [
      event({ type: "content_block_start", index, content_block: { type: "text", text: "" } }),
      ...block.citations.map((citation: unknown) =>
        event({ type: "content_block_delta", index, delta: { type: "citations_delta", citation } }),
      ),
      ...words(block.text).map((text) =>
        event({ type: "content_block_delta", index, delta: { type: "text_delta", text } }),
      ),
    ];
  return undefined;
}
