import { argsFor, type Dialect, type Json, type Plan, type RequestView } from "../dialect.ts";

/*
 * The deterministic "model" behind every fake: it thinks when asked to, calls the first tool it
 * was given unless it is answering a tool result, and otherwise says one sentence. What it issues
 * (tool call ids, signatures) names the fake's dialect and a counter, so a check can tell whose
 * signature or id came back where.
 */

export const FAKE_TEXT = "Done: the kit's fake upstream answered.";

const CALL_ID: Record<Dialect, (n: number) => string | undefined> = {
  anthropic: (n) => `toolu_kit${n}`,
  "openai-responses": (n) => `call_kit${n}`,
  "openai-chat": (n) => `call_kit${n}`,
  gemini: () => undefined,
};

export function signatureOf(dialect: Dialect, n: number): string {
  return `kit-${dialect}-signature-${n}`;
}

export function planFor(dialect: Dialect, view: RequestView, body: Json, n: number): Plan {
  const usage = { input: Math.max(1, Math.ceil(JSON.stringify(body).length / 4)), output: 7 };
  const plan: Plan = { usage };
  if (JSON.stringify(body.input ?? []).includes('"compaction_trigger"')) {
    plan.compaction = `kit-compaction-${n}`;
    return plan;
  }
  // Chat providers show their reasoning in plain text and sign nothing.
  if (view.thinking)
    plan.thinking = {
      text: "The kit's fake upstream thinks first.",
      signature: dialect === "openai-chat" ? undefined : signatureOf(dialect, n),
    };
  const tool = view.tools.find((t) => t.properties !== undefined);
  if (tool && !view.endsWithToolResult) {
    plan.call = { id: CALL_ID[dialect](n) ?? "", name: tool.name, args: argsFor(tool.schema) };
    if (dialect === "gemini" && !plan.thinking) plan.callSignature = signatureOf(dialect, n);
  } else plan.text = FAKE_TEXT;
  return plan;
}
