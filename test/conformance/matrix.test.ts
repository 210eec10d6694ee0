import { afterAll, beforeAll, describe, test } from "bun:test";
import { CASES, type Driver } from "./cases.ts";
import { anthropicDriver } from "./drivers/anthropic.ts";
import { geminiDriver } from "./drivers/gemini.ts";
import { openaiChatDriver } from "./drivers/openai-chat.ts";
import { openaiCompletionsDriver } from "./drivers/openai-completions.ts";
import { openaiResponsesDriver } from "./drivers/openai-responses.ts";
import { externalSetup, localSetup, type Setup } from "./target.ts";

// {five official-SDK clients} x {every upstream dialect, and echo} x {the seven cases}.

const DRIVERS: Driver[] = [openaiChatDriver, openaiResponsesDriver, openaiCompletionsDriver, anthropicDriver, geminiDriver];
const only = process.env.CONFORMANCE_CASES?.split(",");
const external = externalSetup(process.env);
let setup: Setup;

beforeAll(() => {
  setup = external ?? localSetup();
});
afterAll(() => setup.stop());

const upstreamNames = external ? external.upstreams.map((u) => u.name) : ["openai", "anthropic", "gemini", "echo"];

describe.each(DRIVERS)("$client client", (driver) => {
  describe.each(upstreamNames)("to %s", (upstreamName) => {
    for (const name of CASES) {
      const run = driver.cases[name];
      if (!run || (only && !only.includes(name))) continue;
      test(name, () => run(setup.target, setup.upstreams.find((u) => u.name === upstreamName)!), { timeout: external ? 120_000 : 5_000 });
    }
  });
});
