/** For scripts/client-probe.ts: one official SDK at its defaults, one call; prints what a program would see. */
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
const which = process.argv[2];
const origin = process.env.PROBE_ORIGIN!,
  key = process.env.PROBE_KEY!;
const t0 = performance.now();
try {
  if (which === "sdk-openai") {
    const c = new OpenAI({ baseURL: `${origin}/v1`, apiKey: key });
    await c.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
    });
  } else if (which === "sdk-anthropic") {
    const c = new Anthropic({ baseURL: origin, apiKey: key });
    await c.messages.create({
      model: "claude-haiku-4-5",
      max_tokens: 16,
      messages: [{ role: "user", content: "hi" }],
    });
  } else {
    const c = new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: origin } });
    await c.models.generateContent({ model: "gemini-2.5-flash", contents: "hi" });
  }
  console.log("unexpected success");
} catch (e: any) {
  console.error(
    `${e?.constructor?.name} status=${e?.status} type=${e?.type ?? e?.error?.type ?? ""} code=${e?.code ?? ""} after ${((performance.now() - t0) / 1000).toFixed(1)}s: ${String(e?.message).slice(0, 300)}`,
  );
  process.exit(1);
}
