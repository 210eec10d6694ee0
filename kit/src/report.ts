import { DIALECTS } from "./dialect.ts";
import type { Cell } from "./run.ts";

/* The result table a person reads, and the same for machines. */

export const COLUMN: Record<(typeof DIALECTS)[number], string> = {
  anthropic: "Anthropic",
  "openai-responses": "OpenAI Responses",
  "openai-chat": "OpenAI Chat",
  gemini: "Gemini",
};

const cellEscape = (text: string) => text.replace(/\|/g, "\\|").replace(/\s+/g, " ");

export function cellText(cell: Cell): string {
  if (cell.status === "pass") return "pass";
  if (cell.status === "fail") return `FAIL: ${cellEscape(cell.reason ?? "")}`;
  return `n/a: ${cellEscape(cell.reason ?? "")}`;
}

export function summary(cells: Cell[]): { pass: number; fail: number; na: number } {
  return {
    pass: cells.filter((c) => c.status === "pass").length,
    fail: cells.filter((c) => c.status === "fail").length,
    na: cells.filter((c) => c.status === "n/a").length,
  };
}

export function markdown(cells: Cell[]): string {
  const rows = new Map<string, Cell[]>();
  for (const cell of cells) {
    const key = `${cell.cli} ${cell.version} ${cell.session}`;
    rows.set(key, [...(rows.get(key) ?? []), cell]);
  }
  const lines = [
    `| CLI session | ${DIALECTS.map((d) => COLUMN[d]).join(" | ")} |`,
    `|---|${DIALECTS.map(() => "---").join("|")}|`,
  ];
  for (const [key, row] of rows) {
    const byDialect = DIALECTS.map((d) => row.find((c) => c.upstream === d));
    lines.push(`| ${key} | ${byDialect.map((c) => (c ? cellText(c) : "")).join(" | ")} |`);
  }
  const { pass, fail, na } = summary(cells);
  lines.push("", `${pass} pass, ${fail} fail, ${na} n/a`);
  return `${lines.join("\n")}\n`;
}

export interface JsonReport {
  kit: string;
  baseUrl: string;
  date: string;
  models: Record<string, string>;
  summary: { pass: number; fail: number; na: number };
  results: Cell[];
}
