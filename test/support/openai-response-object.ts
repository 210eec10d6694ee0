/*
 * The Response object of OpenAI's Responses API as OpenAI sends it: every field, always present,
 * in OpenAI's order, for the non-streamed body and for the `response` inside response.created,
 * response.in_progress, response.completed, response.incomplete and response.failed. The
 * request's own settings are echoed (penalties 0, top_logprobs 0, temperature and top_p 1 by
 * default); `completed_at` is null until the response completes; `service_tier` is the tier asked
 * for while the response runs ("auto" unless the request names one) and the tier that served it
 * once it is done ("default" for auto). Timestamps are fixed so streamed bytes compare exactly.
 */

export const RESPONSE_CREATED_AT = 1_700_000_000;
const RESPONSE_COMPLETED_AT = RESPONSE_CREATED_AT + 1;

export interface ResponseState {
  id: string;
  status: "in_progress" | "completed" | "incomplete" | "failed";
  output: unknown[];
  usage: unknown;
  previousResponseId: string | null;
  error?: { code: string; message: string } | null;
  incompleteDetails?: { reason: string } | null;
}

/** A function tool as OpenAI echoes it: description and strict always there (strict by default). */
function echoedTool(tool: any): unknown {
  if (tool?.type !== "function") return tool;
  return {
    type: "function",
    description: tool.description ?? null,
    name: tool.name,
    parameters: tool.parameters ?? null,
    strict: tool.strict ?? true,
  };
}

function servedTier(asked: unknown, done: boolean): unknown {
  const tier = asked ?? "auto";
  return done && tier === "auto" ? "default" : tier;
}

export function responseObject(body: any, state: ResponseState): Record<string, unknown> {
  const running = state.status === "in_progress";
  return {
    id: state.id,
    object: "response",
    created_at: RESPONSE_CREATED_AT,
    status: state.status,
    // The fakes answer in the foreground only (OpenAI's background answers start "queued").
    background: false,
    billing: { payer: "developer" },
    completed_at: state.status === "completed" ? RESPONSE_COMPLETED_AT : null,
    error: state.error ?? null,
    frequency_penalty: body.frequency_penalty ?? 0,
    incomplete_details: state.incompleteDetails ?? null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    max_tool_calls: body.max_tool_calls ?? null,
    model: body.model,
    output: state.output,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    presence_penalty: body.presence_penalty ?? 0,
    previous_response_id: state.previousResponseId,
    prompt_cache_key: body.prompt_cache_key ?? null,
    prompt_cache_retention: body.prompt_cache_retention ?? null,
    reasoning: {
      effort: body.reasoning?.effort ?? null,
      summary: body.reasoning?.summary ?? null,
    },
    safety_identifier: body.safety_identifier ?? null,
    service_tier: servedTier(body.service_tier, !running),
    store: body.store !== false,
    temperature: body.temperature ?? 1,
    text: {
      format: body.text?.format ?? { type: "text" },
      verbosity: body.text?.verbosity ?? "medium",
    },
    tool_choice: body.tool_choice ?? "auto",
    tools: Array.isArray(body.tools) ? body.tools.map(echoedTool) : [],
    top_logprobs: body.top_logprobs ?? 0,
    top_p: body.top_p ?? 1,
    truncation: body.truncation ?? "disabled",
    usage: running ? null : state.usage,
    user: body.user ?? null,
    metadata: body.metadata ?? {},
  };
}
