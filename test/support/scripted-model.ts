import { isRedPng } from "./red-png.ts";

/*
 * The "model" behind every fake upstream: deterministic, and following instructions a real model
 * would follow too, so the same conformance cases can run against real providers. Each fake parses
 * its own wire format into a Prompt and renders the Answer back in it; none of this is levity code.
 */

export interface PromptTool {
  name: string;
  /** JSON Schema (or Gemini schema) of the arguments. */
  parameters: any;
}

export interface Prompt {
  model: string;
  system: string;
  /** The text of the last user turn. */
  text: string;
  /** Base64 of the images in the last user turn. */
  images: string[];
  /** The text of the tool results in the last user turn. */
  toolResults: string[];
  tools: PromptTool[];
  thinking: boolean;
}

export interface Answer {
  thinking?: string;
  text?: string;
  calls: { name: string; args: Record<string, unknown> }[];
}

export const MISSING_MODEL = "levity-missing-model";

/**
 * Codex's apply_patch, a freeform tool whose whole input is a patch in Codex's own format (as a
 * function it takes that text as its one string, `input`): 'apply_patch to create hello.txt
 * containing "hi"' adds that file with that one line.
 */
function patchFor(text: string): string | undefined {
  const create = /\bcreate (\S+) containing "([^"]*)"/.exec(text);
  return create
    ? `*** Begin Patch\n*** Add File: ${create[1]}\n+${create[2]}\n*** End Patch\n`
    : undefined;
}

/** Each named tool takes the quoted values written after its name: 'get_weather for "Paris" and get_time for "Tokyo"'. */
function argsFor(tool: PromptTool, text: string): Record<string, unknown> {
  // Some clients send the prompt quoted with its inner quotes escaped.
  const after = text.slice(text.search(new RegExp(`\\b${tool.name}\\b`))).replace(/\\"/g, '"');
  const patch = tool.name === "apply_patch" ? patchFor(after) : undefined;
  if (patch !== undefined) return { input: patch };
  const quoted = [...after.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
  const schema = tool.parameters ?? {};
  const properties = schema.properties ?? {};
  const required: string[] = schema.required ?? Object.keys(properties);
  const args: Record<string, unknown> = {};
  for (const name of required) {
    const type = String(properties[name]?.type ?? "string").toLowerCase();
    if (type === "number" || type === "integer") args[name] = 1;
    else if (type === "boolean") args[name] = true;
    // A command given as a list of words, as Codex's shell tool takes it.
    else if (type === "array") args[name] = ["bash", "-lc", quoted.shift() ?? "true"];
    else args[name] = quoted.shift() ?? "unknown";
  }
  return args;
}

function reply(prompt: Prompt): string {
  const exact = /Reply with exactly this text and nothing else: ([^\n"]+)/.exec(prompt.text);
  if (exact) return exact[1]!;
  const product = /What is (\d+) \* (\d+)\?/.exec(prompt.text);
  if (product) return String(Number(product[1]) * Number(product[2]));
  if (prompt.images.length > 0)
    return prompt.images.every(isRedPng) ? "Red" : "An image I do not recognise.";
  return `pong from ${prompt.model}: ${prompt.text}`;
}

/**
 * A question about what a tool is for, as a model would decide to call it unasked: every word of
 * its name after a leading verb is in the question ("What's the weather …?" for get_weather).
 */
function askedAbout(tool: PromptTool, text: string): boolean {
  if (!text.includes("?")) return false;
  const words = tool.name.split(/[_-]|(?<=[a-z])(?=[A-Z])/).map((w) => w.toLowerCase());
  const subject = /^(get|fetch|find|lookup|search|read|check)$/.test(words[0] ?? "")
    ? words.slice(1)
    : words;
  return subject.length > 0 && subject.every((word) => new RegExp(`\\b${word}\\b`, "i").test(text));
}

/**
 * A coding CLI compacting its history asks for a summary of the conversation, in text, with its
 * tools still declared (and named in the request: "Do NOT use Read, Bash, …"); a model writes the
 * summary and calls nothing. Claude Code wants <analysis> and <summary>, Gemini CLI a
 * <state_snapshot>, Codex and Kilo Code a plain summary.
 */
function summaryWanted(prompt: Prompt): string | undefined {
  const asked = `${prompt.system}\n${prompt.text}`;
  if (/<state_snapshot>/.test(asked))
    return "<state_snapshot>\n<overall_goal>Short scripted replies.</overall_goal>\n</state_snapshot>";
  if (
    /summary of the conversation|CONTEXT CHECKPOINT COMPACTION|^Summarize conversation/im.test(
      asked,
    )
  )
    return "<analysis>The user asked for short replies.</analysis>\n<summary>The user asked for short replies, which were given.</summary>";
  return undefined;
}

export function answer(prompt: Prompt): Answer {
  const out: Answer = { calls: [] };
  const summary = summaryWanted(prompt);
  if (summary !== undefined) out.text = summary;
  else if (prompt.toolResults.length > 0)
    out.text = `The tool returned: ${prompt.toolResults.join(" | ")}`;
  else {
    const mentioned = prompt.tools.filter((tool) =>
      new RegExp(`\\b${tool.name}\\b`).test(prompt.text),
    );
    const named =
      mentioned.length > 0
        ? mentioned
        : prompt.tools.filter((tool) => askedAbout(tool, prompt.text)).slice(0, 1);
    if (named.length > 0)
      out.calls = named.map((tool) => ({ name: tool.name, args: argsFor(tool, prompt.text) }));
    else out.text = reply(prompt);
  }
  const prefix = /Begin every reply with the word (\S+?)\.?$/m.exec(prompt.system)?.[1];
  if (prefix && out.text !== undefined) out.text = `${prefix} ${out.text}`;
  if (prompt.thinking)
    out.thinking = `Thinking about: ${prompt.text || prompt.toolResults.join(" ")}`.trim();
  return out;
}

/** Words, each keeping its trailing space, so a fake can stream them one by one. */
export function words(text: string): string[] {
  return text.match(/\S+\s*/g) ?? [];
}
