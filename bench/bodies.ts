/*
 * The bench's requests and the fake upstream's whole answers, one copy for the scripts that send
 * them (bench/run.ts), answer them (bench/fake-upstream.ts) or time their translation
 * (bench/cache-cost.ts). Each is the exact text on the wire.
 */

const PROMPT = [{ role: "user", content: "Say hello to the benchmark, briefly." }];

/** An OpenAI client's chat request, mapped to the OpenAI upstream (pass-through). */
export const CHAT_REQUEST = JSON.stringify({
  model: "bench-model",
  messages: PROMPT,
  max_tokens: 64,
});
/** The same request for a model mapped to the Gemini upstream (translated). */
export const GEMINI_REQUEST = JSON.stringify({
  model: "gem-model",
  messages: PROMPT,
  max_tokens: 64,
});
/** An Anthropic client's request, mapped to the OpenAI upstream (translated). */
export const ANTHROPIC_REQUEST = JSON.stringify({
  model: "claude-bench",
  max_tokens: 64,
  messages: PROMPT,
});

export const CHAT_ANSWER = JSON.stringify({
  id: "chatcmpl-bench",
  object: "chat.completion",
  created: 1,
  model: "bench-model",
  choices: [
    {
      index: 0,
      message: { role: "assistant", content: "The quick brown fox jumps over the lazy dog." },
      finish_reason: "stop",
      logprobs: null,
    },
  ],
  usage: { prompt_tokens: 12, completion_tokens: 10, total_tokens: 22 },
});

export const GEMINI_ANSWER = JSON.stringify({
  candidates: [
    {
      content: { role: "model", parts: [{ text: "The quick brown fox jumps over the lazy dog." }] },
      finishReason: "STOP",
      index: 0,
    },
  ],
  usageMetadata: { promptTokenCount: 12, candidatesTokenCount: 10, totalTokenCount: 22 },
  modelVersion: "gemini-bench",
});
