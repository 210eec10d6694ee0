import { pagesFor } from "./gemini-grounding.ts";

/*
 * What OpenAI's Responses API adds to an answer when the request gives it the `web_search` tool,
 * as its documentation shows it: a web_search_call output item before the message (action
 * {type: "search", query}, with the sources listed when `include` asks for
 * web_search_call.action.sources), and url_citation annotations on the message's output_text
 * (start_index and end_index in characters of the text, url, title). Streamed: the call's item
 * with its in_progress, searching and completed events, then the text, then one
 * response.output_text.annotation.added per citation. The fake's searches are scripted: the same
 * two pages the fake Gemini finds.
 */

export interface WebSearch {
  item: Record<string, unknown>;
  annotations: Record<string, unknown>[];
}

export function webSearchFor(body: any, prompt: string, answer: string): WebSearch | undefined {
  if (!(body.tools ?? []).some((t: any) => String(t?.type).startsWith("web_search")))
    return undefined;
  const query = (/query:\s*(.+)$/im.exec(prompt)?.[1] ?? prompt).trim().slice(0, 100);
  const pages = pagesFor(query).map((p) => ({
    url: p.uri.replace(/^.*\//, "https://pages.example/"),
    title: p.title,
  }));
  const sources = (body.include ?? []).includes("web_search_call.action.sources")
    ? { sources: pages.map((p) => ({ type: "url", url: p.url })) }
    : {};
  return {
    item: {
      id: "ws_fake1",
      type: "web_search_call",
      status: "completed",
      action: { type: "search", query, ...sources },
    },
    annotations: pages.map((p) => ({
      type: "url_citation",
      start_index: 0,
      end_index: answer.length,
      url: p.url,
      title: p.title,
    })),
  };
}

/** The stream events of the search's item, as `event` writes them, at output `index`. */
export function webSearchEvents(
  search: WebSearch,
  index: number,
  event: (type: string, data: object) => string,
): string[] {
  const at = { output_index: index, item_id: search.item.id };
  return [
    event("response.output_item.added", {
      output_index: index,
      item: { ...search.item, status: "in_progress" },
    }),
    event("response.web_search_call.in_progress", at),
    event("response.web_search_call.searching", at),
    event("response.web_search_call.completed", at),
    event("response.output_item.done", { output_index: index, item: search.item }),
  ];
}
