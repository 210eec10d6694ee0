import { afterAll, beforeAll, describe, test } from "bun:test";
import { CASES, type Driver, type UpstreamModels } from "./cases.ts";
import { anthropicDriver } from "./drivers/anthropic.ts";
import { geminiDriver } from "./drivers/gemini.ts";
import { openaiChatDriver } from "./drivers/openai-chat.ts";
import { openaiCompletionsDriver } from "./drivers/openai-completions.ts";
import { openaiImagesDriver } from "./drivers/openai-images.ts";
import { openaiResponsesDriver } from "./drivers/openai-responses.ts";
import { externalSetup, LOCAL_MODELS, localSetup, type Setup } from "./target.ts";

// {five official-SDK clients} x {every upstream dialect, and echo} x {the seven cases}, and the
// openai images client (generation, edit) on every upstream given an image model.
//
// Locally the matrix runs twice more through a simulated network between the fakes and levity
// (test/support/network.ts: random splits, pauses, compression, comments, late and open ends),
// with the fixed seed below. More seeds, replacing it:
//
//   LEVITY_NET_SEEDS=1,2,3,4,5 npx bun test test/conformance/matrix.test.ts
//
// A failure prints its seed and what the network did to each answer; the same seed replays it.

const DRIVERS: Driver[] = [
  openaiChatDriver,
  openaiResponsesDriver,
  openaiCompletionsDriver,
  anthropicDriver,
  geminiDriver,
  openaiImagesDriver,
];
const DEFAULT_NET_SEED = 20261125;
const only = process.env.CONFORMANCE_CASES?.split(",");
const external = externalSetup(process.env);
const timeout = external ? 120_000 : 5_000;

function netSeeds(env: string | undefined): number[] {
  if (!env) return [DEFAULT_NET_SEED];
  const seeds = env
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const bad = seeds.find((s) => !Number.isInteger(s) || s < 0);
  if (bad !== undefined)
    throw new Error(`LEVITY_NET_SEEDS must be comma-separated non-negative integers, got "${env}"`);
  return seeds;
}

/** The matrix against one setup; `seed` names the network it runs through, if any. */
function matrix(makeSetup: () => Setup, upstreams: readonly UpstreamModels[], seed?: number): void {
  const upstreamNames = upstreams.map((u) => u.name);
  let setup: Setup;
  beforeAll(() => {
    setup = makeSetup();
  });
  afterAll(() => setup.stop());

  describe.each(DRIVERS)("$client client", (driver) => {
    describe.each(upstreamNames)("to %s", (upstreamName) => {
      for (const name of CASES) {
        const run = driver.cases[name];
        if (!run || (only && !only.includes(name))) continue;
        // Known when the tests are collected: the upstreams are named before any setup runs.
        const upstream = upstreams.find((u) => u.name === upstreamName);
        if (upstream && driver.serves && !driver.serves(upstream)) continue;
        test(
          name,
          async () => {
            const before = setup.deliveries().length;
            let timer: ReturnType<typeof setTimeout> | undefined;
            try {
              // A hang fails here, a little before the test's own timeout, so that it too prints the network's seed.
              const hung = new Promise<never>((_, reject) => {
                timer = setTimeout(
                  () => reject(new Error(`no answer within ${timeout - 500} ms`)),
                  timeout - 500,
                );
              });
              await Promise.race([
                run(setup.target, setup.upstreams.find((u) => u.name === upstreamName)!),
                hung,
              ]);
            } catch (error) {
              if (seed !== undefined) {
                const what = setup
                  .deliveries()
                  .slice(before)
                  .map((d) => `  ${d.describe()}`);
                console.error(
                  `network seed ${seed} (replay: LEVITY_NET_SEEDS=${seed} npx bun test test/conformance/matrix.test.ts); the answers went:\n${what.join("\n")}`,
                );
              }
              throw error;
            } finally {
              clearTimeout(timer);
            }
          },
          { timeout },
        );
      }
    });
  });
}

if (external) {
  matrix(() => external, external.upstreams);
} else {
  matrix(() => localSetup(), LOCAL_MODELS);
  // Echo has no network between it and levity.
  for (const seed of netSeeds(process.env.LEVITY_NET_SEEDS)) {
    describe(`through the network, seed ${seed}`, () =>
      matrix(
        () => localSetup(seed),
        LOCAL_MODELS.filter((u) => u.name !== "echo"),
        seed,
      ));
  }
}
