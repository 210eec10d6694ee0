export const RESPONSES_PATH = "/responses";
