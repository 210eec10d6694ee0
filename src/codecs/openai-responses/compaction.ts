import type { Part } from "../../ir.ts";
import { randomId } from "../shared.ts";

/*
 * The compaction item of the Responses API (`{"type": "compaction", "encrypted_content": ...}`,
 * also read as `compaction_summary`): what POST /responses/compact returns in place of a
 * conversation's history, and what the client sends back at the head of its next input. OpenAI's
 * content is encrypted and only OpenAI can read it. The items levity makes when it emulates
 * compaction over another upstream carry the summary itself, readable by levity alone: a marker,
 * then base64url JSON. Nothing secret goes in: only the summary the model wrote.
 */

const PREFIX = "levity-compaction.";
const VERSION = 1;

export const COMPACTION_TYPES: ReadonlySet<string> = new Set(["compaction", "compaction_summary"]);

/** The opaque content of a levity compaction item. */
export function encodeCompaction(summary: string): string {
  return (
    PREFIX +
    Buffer.from(JSON.stringify({ levity: "compaction", v: VERSION, summary })).toString("base64url")
  );
}

/** The summary in a levity compaction item's content, or undefined when the content is not levity's (OpenAI's own, or damaged). */
export function decodeCompaction(content: unknown): string | undefined {
  if (typeof content !== "string" || !content.startsWith(PREFIX)) return undefined;
  try {
    const json: unknown = JSON.parse(
      Buffer.from(content.slice(PREFIX.length), "base64url").toString("utf8"),
    );
    if (
      typeof json === "object" &&
      json !== null &&
      (json as { levity?: unknown }).levity === "compaction"
    ) {
      const summary = (json as { summary?: unknown }).summary;
      return typeof summary === "string" ? summary : undefined;
    }
  } catch {
    // Not levity's: fall through.
  }
  return undefined;
}

export function compactionItem(summary: string): {
  type: "compaction";
  id: string;
  encrypted_content: string;
} {
  return { type: "compaction", id: randomId("cmp_"), encrypted_content: encodeCompaction(summary) };
}

/** How the summary is put before the model when the item comes back: said to be a summary, so it is not taken for the user's words. */
export function summaryText(summary: string): string {
  return `Summary of the earlier part of this conversation (compacted; the messages it replaces are gone):\n\n${summary}`;
}

/**
 * A compaction item found in a request's input, as the parts of a user turn. An item levity did
 * not make (OpenAI's encrypted one, reaching an upstream that cannot read it) stands for nothing
 * here: undefined, and it is left out.
 */
export function expandCompaction(
  item: Record<string, unknown>,
  addUserTurn: (parts: Part[]) => void,
): void {
  const summary = decodeCompaction(item.encrypted_content);
  if (summary !== undefined) addUserTurn([{ type: "text", text: summaryText(summary) }]);
}
