export const RESPONSES_PATH = "/responses";

/** Where an upstream that serves compaction itself takes a conversation to compact. */
export const RESPONSES_COMPACT_PATH = `${RESPONSES_PATH}/compact`;
