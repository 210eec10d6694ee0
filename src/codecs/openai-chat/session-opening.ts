import { firstWhere, type JsonObject } from "../shared.ts";

export function chatSessionOpening(body: JsonObject): unknown[] {
  return [
    firstWhere(body.messages, (m) => m.role === "system" || m.role === "developer"),
    firstWhere(body.messages, (m) => m.role === "user"),
  ];
}
