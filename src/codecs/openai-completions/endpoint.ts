export const COMPLETIONS_PATH = "/completions";
