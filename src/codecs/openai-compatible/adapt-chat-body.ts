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
  // What needs changing is asked first, and the copy made once: a copy-on-first-edit closure here
  // cost every chat request a function and its scope, though most bodies need no change.
  const developerRole =
    !compat.developerRole && Array.isArray(body.messages) && body.messages.some(isDeveloperMessage);
  const other = compat.maxTokensField === "max_tokens" ? "max_completion_tokens" : "max_tokens";
  const renameMaxTokens = body[other] !== undefined && body[compat.maxTokensField] === undefined;
  const dropStreamOptions = !compat.streamOptions && body.stream_options !== undefined;
  if (!developerRole && !renameMaxTokens && !dropStreamOptions) return undefined;
  const adapted: Record<string, unknown> = { ...body };
  if (developerRole) adapted.messages = (body.messages as unknown[]).map(asSystemMessage);
  if (renameMaxTokens) {
    adapted[compat.maxTokensField] = body[other];
    delete adapted[other];
  }
  if (dropStreamOptions) delete adapted.stream_options;
  return adapted;
}

function asSystemMessage(message: unknown): unknown {
  return isDeveloperMessage(message) ? { ...(message as object), role: "system" } : message;
}

function isDeveloperMessage(message: unknown): boolean {
  return (
    typeof message === "object" &&
    message !== null &&
    (message as { role?: unknown }).role === "developer"
  );
}
