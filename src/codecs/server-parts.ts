import type { Part, ServerToolCallPart, ServerToolResultPart } from "../ir.ts";
import { argumentsObject } from "./shared.ts";

/*
 * A conversation's server tool calls and results (a web search's query, the pages it found), for an
 * upstream that cannot take them back as its own blocks: as text, so the model still reads what
 * was searched and found, and a client's history is never refused for holding them.
 */

function callText(part: ServerToolCallPart): string {
  const input = argumentsObject(part.input);
  const what = typeof input.query === "string" ? input.query : (input.url ?? part.input);
  return `[${part.name}: ${String(what)}]`;
}

function resultText(part: ServerToolResultPart): string {
  if (part.error !== undefined) return `[${part.kind} failed: ${part.error}]`;
  const lines = part.results.map((r) =>
    [`- ${r.title ?? r.url} (${r.url})`, r.text ? `\n${r.text}` : ""].join(""),
  );
  return `[${part.kind} results]\n${lines.join("\n")}`;
}

/**
 * The parts with each server tool part `keep` refuses turned into text. Citations stay on their
 * text for a codec that writes them; the others ignore them.
 */
export function serverPartsAsText(parts: Part[], keep: (part: Part) => boolean = () => false) {
  return parts.map((part): Part => {
    if (part.type === "server_tool_call" && !keep(part))
      return { type: "text", text: callText(part) };
    if (part.type === "server_tool_result" && !keep(part))
      return { type: "text", text: resultText(part) };
    return part;
  });
}
