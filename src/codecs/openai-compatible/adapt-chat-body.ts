import type { ChatCompat } from "./profiles.ts";

/**
 * A Chat Completions body forwarded to a provider with differences: the fields it would refuse,
 * renamed or left out. Undefined when the body suits the provider as it is, so its bytes go
 * through untouched.
 */
export function adaptChatBody(
  body: Record<string, unknown>,
  compat: ChatCompat,
): Record<string, unknown> | undefined {
  let adapted: Record<string, unknown> | undefined;
  const edit = () => (adapted ??= { ...body });
  if (
    !compat.developerRole &&
    Array.isArray(body.messages) &&
    body.messages.some(isDeveloperMessage)
  ) {
    edit().messages = body.messages.map((m) =>
      isDeveloperMessage(m) ? { ...m, role: "system" } : m,
    );
  }
  const other = compat.maxTokensField === "max_tokens" ? "max_completion_tokens" : "max_tokens";
  if (body[other] !== undefined && body[compat.maxTokensField] === undefined) {
    const out = edit();
    out[compat.maxTokensField] = body[other];
    delete out[other];
  }
  if (!compat.streamOptions && body.stream_options !== undefined) delete edit().stream_options;
  return adapted;
}

function isDeveloperMessage(message: unknown): boolean {
  return (
    typeof message === "object" &&
    message !== null &&
    (message as { role?: unknown }).role === "developer"
  );
}
