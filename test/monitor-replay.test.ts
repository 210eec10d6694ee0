import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { chromiumPath, launchChromium } from "./support/browser.ts";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { REPO, startGateway, tempDir, upstreamsYaml, type TestGateway } from "./support/gateway.ts";

// The monitor page's Replay button, in headless Chromium: a logged request sent again through
// POST /levity/replay/{id}, first as a dry run to another upstream with its diff, then for real;
// the replay appears in the list marked as one, and no secret reaches the page.

const ADMIN_KEY = "sk-admin-monitor-replay-0123456789";
const CLIENT_KEY = "sk-client-monitor-replay-0123456789";
const OA_KEY = "sk-account-oa-monitor-replay-111111";
const AN_KEY = "sk-ant-account-monitor-replay-222222";
// LEVITY_SCREENSHOTS=docs writes docs/monitor-replay.png for the README; else test-artifacts/.
const SHOTS =
  process.env.LEVITY_SCREENSHOTS === "docs" ? join(REPO, "docs") : join(REPO, "test-artifacts");
const browserPath = chromiumPath();

let oa: FakeUpstream;
let an: FakeUpstream;
let gw: TestGateway;
let browser: BrowserContext;
let profile: string;

describe.skipIf(!browserPath)("the monitor's Replay button", () => {
  beforeAll(async () => {
    oa = fakeOpenAI(OA_KEY);
    an = fakeAnthropic(AN_KEY);
    gw = startGateway({
      gateway: `proxy:
  auth_mode: strict
  api_keys: [{ name: desk, key: ${CLIENT_KEY} }]
  admin_key: ${ADMIN_KEY}
  cooldown_wait: 0
  request_log: { flush_ms: 20, log_bodies: true, body_max_kb: 1 }
${upstreamsYaml([
  {
    name: "oa",
    protocol: "openai",
    base_url: `${oa.url}/v1`,
    accounts: [{ name: "a", key: OA_KEY }],
  },
  { name: "an", protocol: "anthropic", base_url: an.url, accounts: [{ name: "x", key: AN_KEY }] },
])}`,
      mappings: "exact:\n  fast: oa/gpt-4o-real\n",
    });
    profile = tempDir("levity-chromium-");
    mkdirSync(SHOTS, { recursive: true });
    browser = await launchChromium(browserPath!, profile);
  });

  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
    await Promise.all([oa?.stop(), an?.stop()]);
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  async function signedIn(width = 1280): Promise<Page> {
    const page = await browser.newPage();
    await page.setViewportSize({ width, height: 900 });
    await page.goto(`${gw.origin}/ui`, { waitUntil: "load" });
    await page.getByLabel("Admin key").fill(ADMIN_KEY);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#cards [data-card='Status'] .value").getByText("ok").waitFor();
    return page;
  }

  test("a dry run to another upstream shows the request and its diff; Send replays it, and the replay is listed as one", async () => {
    const response = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "fast",
        messages: [{ role: "user", content: "What went wrong here?" }],
      }),
    });
    expect(response.status).toBe(200);
    await response.text();
    const id = response.headers.get("x-request-id")!;

    const page = await signedIn();
    const row = page.locator(`#requests tbody[data-request-id='${id}']`);
    await row.waitFor({ timeout: 5000 });
    await row.getByRole("button", { name: "Replay" }).click();
    expect(await page.locator("#replay-of").textContent()).toBe(id);
    expect(await page.locator("#replay-what").textContent()).toBe(
      "POST /v1/chat/completions, model fast, sent to oa/a, status 200.",
    );

    const before = an.requests.length;
    await page.getByLabel("To UPSTREAM/MODEL").fill("an/claude-sonnet-4-5-real");
    await page.getByLabel("Diff with the original").check();
    await page.getByRole("button", { name: "Dry run" }).click();
    const result = page.locator("#replay-result");
    await result.getByText("levity would send this to an, account x").waitFor();
    const dry = (await result.textContent())!;
    expect(dry).toContain(`POST ${an.url}/v1/messages\n`);
    expect(dry).toContain("x-api-key: [masked]\n");
    expect(dry).toContain('"model": "claude-sonnet-4-5-real"');
    expect(dry).toContain("--- original: oa, account a (computed now");
    expect(dry).toContain("+++ replay: an, account x (dry run, not sent)");
    expect(dry).toMatch(/^- POST \S+\/v1\/chat\/completions$/m);
    expect(dry).toMatch(/^\+ POST \S+\/v1\/messages$/m);
    expect(an.requests.length).toBe(before);
    await page.screenshot({ path: join(SHOTS, "monitor-replay.png"), fullPage: true });

    await page.getByLabel("Diff with the original").uncheck();
    await page.getByRole("button", { name: "Send" }).click();
    await result
      .getByText(/Replayed as req_\w+: 200 from an\/x \(model claude-sonnet-4-5-real\)/)
      .waitFor();
    expect(an.requests.length).toBe(before + 1);
    const replayId = /Replayed as (req_\w+)/.exec((await result.textContent())!)![1]!;
    // The answer in the client's own dialect (OpenAI chat), translated from Anthropic's.
    expect(await result.textContent()).toContain('"object": "chat.completion"');
    const replayRow = page.locator(`#requests tbody[data-request-id='${replayId}']`);
    await replayRow.waitFor({ timeout: 5000 });
    expect(await replayRow.locator("td[data-label='Client']").textContent()).toBe(
      `replay of ${id}`,
    );
    expect(await replayRow.locator("td[data-label='Account']").textContent()).toBe("an/x");

    // Whatever the page shows holds no key.
    const shown = await page.locator("body").textContent();
    for (const secret of [ADMIN_KEY, CLIENT_KEY, OA_KEY, AN_KEY])
      expect(shown).not.toContain(secret);
    await page.close();
  });

  test("a request whose body was cut when it was logged: the gateway's words, and no result", async () => {
    const page = await signedIn();
    const long = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "fast",
        messages: [{ role: "user", content: "x".repeat(2000) }],
      }),
    });
    const id = long.headers.get("x-request-id")!;
    await long.text();
    const row = page.locator(`#requests tbody[data-request-id='${id}']`);
    await row.waitFor({ timeout: 5000 });
    await row.getByRole("button", { name: "Replay" }).click();
    await page.getByRole("button", { name: "Dry run" }).click();
    await page.locator("#replay-error").getByText(`Request ${id}'s body was cut`).waitFor();
    expect(await page.locator("#replay-error").textContent()).toContain(
      "a half body is not replayed. Raise request_log.body_max_kb in gateway.yaml",
    );
    expect(await page.locator("#replay-result").isVisible()).toBe(false);
    await page.close();
  });

  test("on a phone (390 px) the form and a dry run's result fit the screen", async () => {
    const response = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "fast", messages: [{ role: "user", content: "On a phone" }] }),
    });
    await response.text();
    const id = response.headers.get("x-request-id")!;
    const page = await signedIn(390);
    const row = page.locator(`#requests tbody[data-request-id='${id}']`);
    await row.waitFor({ timeout: 5000 });
    await row.getByRole("button", { name: "Replay" }).click();
    await page.getByLabel("To UPSTREAM/MODEL").fill("an/claude-sonnet-4-5-real");
    await page.getByLabel("Diff with the original").check();
    await page.getByRole("button", { name: "Dry run" }).click();
    await page.locator("#replay-result").getByText("levity would send this to an").waitFor();
    const overflow = await page.evaluate(() => {
      const d = (globalThis as any).document;
      const section = d.querySelector("#replay");
      return {
        document: d.documentElement.scrollWidth - (globalThis as any).innerWidth,
        section: section.scrollWidth - section.clientWidth,
      };
    });
    expect(overflow).toEqual({ document: 0, section: 0 });
    await page.close();
  });
});
