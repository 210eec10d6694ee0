import type { ErrorBodyReading } from "../codec.ts";
import { failureFromBody } from "../shared.ts";
import { isObject } from "../json.ts";

/** The message of an OpenAI-family error body (`{error: {message}}`), which all three OpenAI APIs answer with. */
export function parseOpenAIError(text: string): ErrorBodyReading {
  return failureFromBody(text, (json) =>
    isObject(json) && isObject(json.error) && typeof json.error.message === "string"
      ? { message: json.error.message }
      : undefined,
  );
}
