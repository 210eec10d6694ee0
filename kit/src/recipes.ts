import type { Dialect } from "./dialect.ts";

/*
 * How a gateway is told to reach the kit's fakes, for the gateways the README gives a recipe for.
 * The kit prints these (`--print-config`) for ports fixed with --upstream-port-base.
 */

export const DEFAULT_MODELS: Record<Dialect, string> = {
  anthropic: "kit-anthropic",
  "openai-responses": "kit-openai",
  "openai-chat": "kit-chat",
  gemini: "kit-gemini",
};

export interface LevityConfig {
  gateway: string;
  mappings: string;
}

/** levity's gateway.yaml and mappings.yaml: one upstream per fake, each kit model name to its own. */
export function levityConfig(
  baseUrls: Record<Dialect, string>,
  models: Record<Dialect, string> = DEFAULT_MODELS,
): LevityConfig {
  const account = "    accounts: [{ name: kit, key: sk-kit-upstream-account }]";
  const gateway = [
    "upstreams:",
    "  - name: kit-anthropic",
    "    protocol: anthropic",
    `    base_url: ${baseUrls.anthropic}`,
    account,
    "  - name: kit-openai",
    "    protocol: openai",
    `    base_url: ${baseUrls["openai-responses"]}`,
    "    apis: [responses]",
    "    wire_api: responses",
    account,
    "  - name: kit-chat",
    "    protocol: openai",
    `    base_url: ${baseUrls["openai-chat"]}`,
    "    apis: [chat]",
    account,
    "  - name: kit-gemini",
    "    protocol: gemini",
    `    base_url: ${baseUrls.gemini}`,
    account,
    "",
  ].join("\n");
  const exact = [
    `  ${models.anthropic}: kit-anthropic/${models.anthropic}`,
    `  ${models["openai-responses"]}: kit-openai/${models["openai-responses"]}`,
    `  ${models["openai-chat"]}: kit-chat/${models["openai-chat"]}`,
    `  ${models.gemini}: kit-gemini/${models.gemini}`,
  ];
  return { gateway, mappings: ["exact:", ...exact, ""].join("\n") };
}
