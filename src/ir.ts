/*
 * The shared intermediate representation every codec parses into and renders from.
 * Keep opaque things opaque: ids and signatures are carried, never invented.
 */

export type Role = "user" | "assistant";

export interface TextPart {
  type: "text";
  text: string;
}

export type Part = TextPart;

export interface Turn {
  role: Role;
  parts: Part[];
}

export interface ChatRequest {
  /** The model the upstream is asked for (after mapping). */
  model: string;
  /** System and developer prompts, in order. */
  system: string[];
  turns: Turn[];
  stream: boolean;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  stop?: string[];
}

/** Why generation stopped, in the IR's own words; each codec maps it to its dialect. */
export type StopReason = "end" | "length" | "tool_use" | "content_filter" | "stop_sequence";

export interface Usage {
  input: number;
  output: number;
  cached?: number;
  reasoning?: number;
}

export interface ChatResponse {
  id: string;
  model: string;
  /** Unix seconds. */
  created: number;
  parts: Part[];
  stop: StopReason;
  usage: Usage;
}

/** Stream vocabulary: few and ordered. `start` first, then deltas, then `finish`; `error` may end it instead. */
export type StreamEvent =
  | { type: "start"; id: string; model: string; created: number; usage: Usage }
  | { type: "text"; text: string }
  | { type: "finish"; stop: StopReason; usage: Usage }
  | { type: "error"; status: number; message: string };

export function textOf(parts: Part[]): string {
  let out = "";
  for (const part of parts) if (part.type === "text") out += part.text;
  return out;
}
