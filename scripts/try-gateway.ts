import { fakeAnthropic } from "../test/support/fake-anthropic.ts";
import { fakeCompatible } from "../test/support/fake-compatible.ts";
import { fakeGemini } from "../test/support/fake-gemini.ts";
import { fakeOpenAI } from "../test/support/fake-openai.ts";
import type { FakeUpstream } from "../test/support/fake-server.ts";
import {
  ALL_OPENAI_APIS,
  startGateway,
  upstreamsYaml,
  type TestGateway,
} from "../test/support/gateway.ts";

/*
 * levity in front of the scripted fake upstreams the tests use, every model name mapped to one
 * upstream: real clients can be tried against any upstream dialect with no account. A
 * development tool; not part of the product.
 *
 * "openai" is OpenAI's own API (every OpenAI API served natively); "compatible" is an
 * OpenAI-compatible provider that serves Chat Completions only, as most do, so a Responses
 * client such as the Codex CLI is translated to chat for it.
 */

export const TRY_KEY = "sk-try-the-clients";
export const TRY_UPSTREAMS = ["openai", "compatible", "anthropic", "gemini", "echo"] as const;
export type TryUpstream = (typeof TRY_UPSTREAMS)[number];

type FakeName = Exclude<TryUpstream, "echo">;

export interface TryGateway {
  origin: string;
  gateway: TestGateway;
  fakes: Record<FakeName, FakeUpstream>;
  stop(): Promise<void>;
}

export interface TryOptions {
  /** Record every request's and answer's body in the request log (request_log.log_bodies). */
  logBodies?: boolean;
}

export function startTryGateway(upstream: string, options: TryOptions = {}): TryGateway {
  const fakes: Record<FakeName, FakeUpstream> = {
    openai: fakeOpenAI("sk-fake-openai"),
    compatible: fakeCompatible("sk-fake-compatible", "generic"),
    anthropic: fakeAnthropic("sk-fake-anthropic"),
    gemini: fakeGemini("fake-gemini"),
  };
  const requestLog = options.logBodies
    ? "  request_log: { enabled: true, log_bodies: true, body_max_kb: 1024 }\n"
    : "";
  const gateway = startGateway({
    gateway:
      `proxy:\n  auth_mode: strict\n  api_key: ${TRY_KEY}\n${requestLog}` +
      upstreamsYaml([
        {
          name: "openai",
          protocol: "openai",
          base_url: `${fakes.openai.url}/v1`,
          apis: ALL_OPENAI_APIS,
          accounts: [{ name: "fake", key: "sk-fake-openai" }],
        },
        {
          name: "compatible",
          protocol: "openai",
          base_url: `${fakes.compatible.url}/v1`,
          accounts: [{ name: "fake", key: "sk-fake-compatible" }],
        },
        {
          name: "anthropic",
          protocol: "anthropic",
          base_url: fakes.anthropic.url,
          accounts: [{ name: "fake", key: "sk-fake-anthropic" }],
        },
        {
          name: "gemini",
          protocol: "gemini",
          base_url: fakes.gemini.url,
          accounts: [{ name: "fake", key: "fake-gemini" }],
        },
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
