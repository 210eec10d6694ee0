import { expect } from "bun:test";

export type Family = "openai" | "anthropic" | "gemini";

/** Asserts `body` is an error in this family's exact shape (PROTOCOLS.md) and returns its message. */
export function expectErrorShape(family: Family, body: any, status: number): string {
  if (family === "openai") {
    expect(Object.keys(body)).toEqual(["error"]);
    expect(typeof body.error.message).toBe("string");
    expect(typeof body.error.type).toBe("string");
    expect("param" in body.error && "code" in body.error).toBe(true);
    return body.error.message;
  }
  if (family === "anthropic") {
    expect(body.type).toBe("error");
    expect(typeof body.error.type).toBe("string");
    expect(typeof body.error.message).toBe("string");
    return body.error.message;
  }
  expect(body.error.code).toBe(status);
  expect(typeof body.error.message).toBe("string");
  expect(body.error.status).toMatch(/^[A-Z_]+$/);
  return body.error.message;
}
