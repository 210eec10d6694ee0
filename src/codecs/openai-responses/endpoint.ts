export const RESPONSES_PATH = "/responses";

/** OpenAI's count of a Responses request's input tokens (`POST /v1/responses/input_tokens`). */
export const RESPONSES_INPUT_TOKENS_PATH = `${RESPONSES_PATH}/input_tokens`;

/** Where an upstream that serves compaction itself takes a conversation to compact. */
export const RESPONSES_COMPACT_PATH = `${RESPONSES_PATH}/compact`;
