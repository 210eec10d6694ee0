/*
 * The OpenAI family, shared by the three OpenAI dialects (openai-chat, openai-completions,
 * openai-responses): its family object, and the provider profiles that say how one
 * OpenAI-compatible provider differs from OpenAI. The profiles sit here rather than inside
 * openai-chat because they decide more than the chat codec: which of the three APIs an upstream
 * serves natively, and when a forwarded Responses or Completions request falls back to chat.
 */
export { adaptChatBody } from "./adapt-chat-body.ts";
export { apiOfDialect, dialectOfApi, OPENAI_APIS, type OpenAIApi } from "./apis.ts";
export { openaiFamily } from "./family.ts";
export { meansNoSuchRoute } from "./no-such-route.ts";
export {
  type ChatCompat,
  compatOf,
  defaultApis,
  PROFILES,
  type ProfileName,
  profileFromBaseUrl,
} from "./profiles.ts";
