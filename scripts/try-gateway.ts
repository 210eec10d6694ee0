import { fakeAnthropic } from "../test/support/fake-anthropic.ts";
import { fakeGemini } from "../test/support/fake-gemini.ts";
import { fakeOpenAI } from "../test/support/fake-openai.ts";
import type { FakeUpstream } from "../test/support/fake-server.ts";
import { startGateway, upstreamsYaml, type TestGateway } from "../test/support/gateway.ts";

/*
 * levity in front of the scripted fake upstreams the tests use, every model name mapped to one
 * upstream: real clients can be tried against any upstream dialect with no account. A
 * development tool; not part of the product.
 */

export const TRY_KEY = "sk-try-the-clients";
export const TRY_UPSTREAMS = ["openai", "anthropic", "gemini", "echo"] as const;

export interface TryGateway {
  origin: string;
  gateway: TestGateway;
  fakes: Record<"openai" | "anthropic" | "gemini", FakeUpstream>;
  stop(): Promise<void>;
}

export function startTryGateway(upstream: string): TryGateway {
  const fakes = { openai: fakeOpenAI("sk-fake-openai"), anthropic: fakeAnthropic("sk-fake-anthropic"), gemini: fakeGemini("fake-gemini") };
  const gateway = startGateway({
    gateway:
      `proxy:\n  auth_mode: strict\n  api_key: ${TRY_KEY}\n` +
      upstreamsYaml([
        { name: "openai", protocol: "openai", base_url: `${fakes.openai.url}/v1`, accounts: [{ name: "fake", key: "sk-fake-openai" }] },
        { name: "anthropic", protocol: "anthropic", base_url: fakes.anthropic.url, accounts: [{ name: "fake", key: "sk-fake-anthropic" }] },
        { name: "gemini", protocol: "gemini", base_url: fakes.gemini.url, accounts: [{ name: "fake", key: "fake-gemini" }] },
        { name: "echo", protocol: "echo" },
      ]),
    mappings: `wildcard:\n  "**": ${upstream}/scripted-model\n`,
  });
  return {
    origin: gateway.origin,
    gateway,
    fakes,
    async stop() {
      await gateway.stop();
      await Promise.all(Object.values(fakes).map((fake) => fake.stop()));
    },
  };
}
