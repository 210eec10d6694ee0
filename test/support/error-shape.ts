import { expect } from "bun:test";

export type Family = "openai" | "anthropic" | "gemini";

/** What is wrong with `body` as an error in this family's exact shape (PROTOCOLS.md); undefined when nothing is. */
export function errorShapeProblem(family: Family, body: any, status: number): string | undefined {
  const error = body?.error;
  if (family === "openai") {
    if (Object.keys(body ?? {}).join() !== "error") return "the body has keys besides error";
    if (typeof error?.message !== "string" || typeof error?.type !== "string")
      return "error.message and error.type must be strings";
    if (!("param" in error && "code" in error)) return "error.param and error.code must be present";
    return undefined;
  }
  if (family === "anthropic") {
    if (body?.type !== "error") return 'type must be "error"';
    if (typeof error?.type !== "string" || typeof error?.message !== "string")
      return "error.type and error.message must be strings";
    return undefined;
  }
  if (error?.code !== status) return `error.code must be ${status}`;
  if (typeof error?.message !== "string") return "error.message must be a string";
  if (!/^[A-Z_]+$/.test(String(error?.status))) return "error.status must be a status name";
  return undefined;
}

/** Asserts `body` is an error in this family's exact shape and returns its message. */
export function expectErrorShape(family: Family, body: any, status: number): string {
  expect(errorShapeProblem(family, body, status)).toBeUndefined();
  return body.error.message;
}
