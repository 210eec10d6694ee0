import { fakeAnthropic } from "../support/fake-anthropic.ts";
import { fakeGemini } from "../support/fake-gemini.ts";
import { fakeOpenAI } from "../support/fake-openai.ts";
import type { FakeUpstream } from "../support/fake-server.ts";
import type { Delivery } from "../support/network.ts";
import {
  ALL_OPENAI_APIS,
  startGateway,
  upstreamsYaml,
  type TestGateway,
} from "../support/gateway.ts";
import { MISSING_MODEL } from "../support/scripted-model.ts";
import type { Target, UpstreamModels } from "./cases.ts";

/*
 * Where the matrix runs. By default: levity on loopback in front of scripted fake upstreams of
 * every dialect, plus echo. With CONFORMANCE_BASE_URL (npm run conformance -- --base-url URL):
 * any gateway, with the model names given for each upstream it serves.
 */

export interface Setup {
  target: Target;
  upstreams: UpstreamModels[];
  /** Every answer the fakes sent through the simulated network so far (none without one). */
  deliveries(): Delivery[];
  stop(): Promise<void>;
}

const CLIENT_KEY = "sk-conformance-client";

/** The upstreams of the local setup, by name. */
export const LOCAL_UPSTREAMS = ["openai", "openai-all", "anthropic", "gemini", "echo"];

/** Every local upstream makes images but Anthropic's. */
const LOCAL_IMAGE_MODELS: Readonly<Record<string, string>> = {
  openai: "conf-openai-image",
  "openai-all": "conf-openai-all-image",
  gemini: "conf-gemini-image",
  echo: "conf-echo",
};

/** The model names that reach each local upstream. */
export const LOCAL_MODELS: readonly UpstreamModels[] = LOCAL_UPSTREAMS.map((name) => ({
  name,
  model: `conf-${name}`,
  missingModel: `conf-${name}-missing`,
  echoes: name === "echo",
  imageModel: LOCAL_IMAGE_MODELS[name],
}));

export function externalSetup(env: Record<string, string | undefined>): Setup | undefined {
  const baseUrl = env.CONFORMANCE_BASE_URL;
  if (!baseUrl) return undefined;
  const imageModels = new Map(
    (env.CONFORMANCE_IMAGE_MODELS ?? "")
      .split(",")
      .filter(Boolean)
      .map((entry) => entry.split("=") as [string, string]),
  );
  const upstreams = (env.CONFORMANCE_MODELS ?? "")
    .split(",")
    .filter(Boolean)
    .map((entry) => {
      const [name, model] = entry.split("=") as [string, string];
      return {
        name,
        model,
        missingModel: env.CONFORMANCE_MISSING_MODEL ?? MISSING_MODEL,
        echoes: name === "echo",
        imageModel: imageModels.get(name),
      };
    });
  if (upstreams.length === 0)
    throw new Error("CONFORMANCE_MODELS must name at least one upstream=model");
  return {
    target: { baseUrl: baseUrl.replace(/\/+$/, ""), apiKey: env.CONFORMANCE_API_KEY ?? "unused" },
    upstreams,
    deliveries: () => [],
    stop: async () => {},
  };
}

/** Levity in front of the fakes; with a network seed, every fake answers through the simulated network (support/network.ts). */
export function localSetup(networkSeed?: number): Setup {
  const keys = {
    openai: "sk-fake-openai-account",
    anthropic: "sk-fake-anthropic-account",
    gemini: "fake-gemini-account",
  };
  const options = { network: networkSeed };
  const fakes: FakeUpstream[] = [
    fakeOpenAI(keys.openai, options),
    fakeAnthropic(keys.anthropic, options),
    fakeGemini(keys.gemini, options),
  ];
  const [oa, an, ge] = fakes as [FakeUpstream, FakeUpstream, FakeUpstream];
  const gw: TestGateway = startGateway({
    gateway:
      `proxy:\n  auth_mode: strict\n  api_key: ${CLIENT_KEY}\n` +
      upstreamsYaml([
        // Chat only, as most OpenAI-compatible providers: Responses and Completions clients are translated.
        {
          name: "openai",
          protocol: "openai",
          base_url: `${oa.url}/v1`,
          accounts: [{ name: "fake", key: keys.openai }],
        },
        // All three APIs, as OpenAI's own: every OpenAI client is forwarded byte for byte.
        {
          name: "openai-all",
          protocol: "openai",
          base_url: `${oa.url}/v1`,
          apis: ALL_OPENAI_APIS,
          accounts: [{ name: "fake", key: keys.openai }],
        },
        {
          name: "anthropic",
          protocol: "anthropic",
          base_url: an.url,
          accounts: [{ name: "fake", key: keys.anthropic }],
        },
        {
          name: "gemini",
          protocol: "gemini",
          base_url: ge.url,
          accounts: [{ name: "fake", key: keys.gemini }],
        },
        { name: "echo", protocol: "echo" },
      ]),
    mappings: [
      "exact:",
      "  conf-openai: openai/gpt-4o-real",
      "  conf-openai-all: openai-all/gpt-4o-real",
      "  conf-anthropic: anthropic/claude-sonnet-4-5-real",
      "  conf-gemini: gemini/gemini-2.5-flash-real",
      "  conf-echo: echo/echo",
      "  conf-openai-image: openai/gpt-image-1",
      "  conf-openai-all-image: openai-all/gpt-image-1",
      "  conf-gemini-image: gemini/gemini-2.5-flash-image",
      `  conf-openai-missing: openai/${MISSING_MODEL}`,
      `  conf-openai-all-missing: openai-all/${MISSING_MODEL}`,
      `  conf-anthropic-missing: anthropic/${MISSING_MODEL}`,
      `  conf-gemini-missing: gemini/${MISSING_MODEL}`,
      "  conf-echo-missing: echo/echo-error-404",
      // Embeddings (test/conformance/embeddings.test.ts).
      "  conf-embed-openai: openai/text-embedding-3-small",
      "  conf-embed-gemini: gemini/gemini-embedding-001",
      "  conf-embed-echo: echo/echo",
      "  conf-embed-missing: openai/no-such-embedding",
      "",
    ].join("\n"),
  });
  return {
    target: { baseUrl: gw.origin, apiKey: CLIENT_KEY },
    upstreams: [...LOCAL_MODELS],
    deliveries: () => fakes.flatMap((fake) => fake.deliveries()),
    async stop() {
      await gw.stop();
      await Promise.all(fakes.map((fake) => fake.stop()));
    },
  };
}
