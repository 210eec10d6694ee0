import { firstWhere } from "../shared.ts";
import type { JsonObject } from "../json.ts";

export function chatSessionOpening(body: JsonObject): unknown[] {
  return [
    firstWhere(body.messages, (m) => m.role === "system" || m.role === "developer"),
    firstWhere(body.messages, (m) => m.role === "user"),
  ];
}
