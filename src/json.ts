/** A parsed JSON object, as a client's request body is: its fields are read, then checked one by one. */
export type JsonObject = Record<string, unknown>;
