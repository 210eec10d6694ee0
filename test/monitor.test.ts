import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import type { BrowserContext, Page } from "playwright-core";
import { chromiumPath, launchChromium } from "./support/browser.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { REPO, startGateway, tempDir, upstreamsYaml, type TestGateway } from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";
import type { ReportedUsage } from "./support/fake-server.ts";
import { rememberSecret } from "./support/secret-audit.ts";
import { waitUntil } from "./support/wait.ts";

// The monitor page at /ui, in headless Chromium, as a person would use it: sign in with the admin
// key, see the gateway, the accounts with their countdowns, requests arriving, the token chart;
// on a laptop (1280 px wide) and on a phone (390 px), with data and without.

const ADMIN_KEY = "sk-admin-monitor-0123456789";
const CLIENT_KEY = "sk-client-monitor-0123456789";
const KEYS = { a: "sk-account-a-monitor-111111", b: "sk-account-b-monitor-222222" };
// The Usage view's team: each request reports this usage, priced by gateway.yaml's table
// (US$ per million tokens: input, cached input, output; reasoning is output's price).
const TEAM = { alice: "sk-team-alice-monitor-3333333", desk: "sk-team-desk-monitor-4444444" };
const TEAM_USAGE: ReportedUsage = {
  input: 24_000,
  cached: 16_000,
  cacheWrite: 0,
  output: 1_500,
  reasoning: 400,
};
const GPT_4O = [2.5, 1.25, 10] as const;
const GPT_4O_MINI = [0.15, 0.075, 0.6] as const;
/** One request's cost, written out: plain input, cache reads, output (reasoning included). */
const byHand = ([input, cached, output]: readonly number[], u: ReportedUsage) =>
  ((u.input - u.cached) * input! + u.cached * cached! + u.output * output!) / 1e6;
const LONG_MODEL = "claude-sonnet-4-5-20250929-thinking-extended";
// Screenshots go to test-artifacts/; LEVITY_SCREENSHOTS=docs writes them into docs/ for the README
// (monitor.png at 1280 px, monitor-390.png, monitor-empty-1280.png, monitor-empty-390.png,
// monitor-keys.png, monitor-keys-390.png, monitor-usage.png, monitor-usage-390.png).
const SHOTS =
  process.env.LEVITY_SCREENSHOTS === "docs" ? join(REPO, "docs") : join(REPO, "test-artifacts");
const browserPath = chromiumPath();

let oa: FakeUpstream;
/** auth strict with an admin key, and traffic. */
let gw: TestGateway;
/** No key at all (auth off), and no traffic. */
let bare: TestGateway;
let browser: BrowserContext;
let profile: string;

const ask = (model: string | undefined, content = "hello") =>
  fetch(`${gw.origin}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${CLIENT_KEY}` },
    body: JSON.stringify({ model, messages: [{ role: "user", content }] }),
  });

interface Sent {
  url: string;
  authorization: string | undefined;
}

/** Everything the page asked levity's admin surface for, with the Authorization it sent. */
const adminCalls = (sent: Sent[]) =>
  sent.filter((s) => new URL(s.url).pathname.startsWith("/levity/"));

// (The page's CSP forbids evaluating strings; functions are passed to the page as they are.)

/** How far anything sticks out: the document past the window, and any table past its section. */
function overflow(page: Page) {
  return page.evaluate(() => {
    const d = (globalThis as any).document;
    const sections = [...d.querySelectorAll("#app section")].map((s: any) => ({
      id: s.getAttribute("aria-labelledby"),
      scroll: s.scrollWidth - s.clientWidth,
      content:
        Math.max(0, ...[...s.children].map((c: any) => c.getBoundingClientRect().right)) -
        s.getBoundingClientRect().right,
    }));
    return {
      document: d.documentElement.scrollWidth - (globalThis as any).innerWidth,
      sections: sections.filter((s) => s.scroll > 0 || s.content > 0),
    };
  });
}

async function expectNoOverflow(page: Page): Promise<void> {
  const found = await overflow(page);
  expect(found.document).toBeLessThanOrEqual(0);
  expect(found.sections).toEqual([]);
}

/** The placeholder's text against the room the input has for it (scrollWidth ignores placeholders). */
function placeholderRoom(page: Page): Promise<{ text: number; room: number }> {
  return page.locator("#admin-key").evaluate((input: any) => {
    const style = (globalThis as any).getComputedStyle(input);
    const context = (globalThis as any).document.createElement("canvas").getContext("2d");
    context.font = style.font;
    return {
      text: context.measureText(input.placeholder).width,
      room: input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight),
    };
  });
}

describe.skipIf(!browserPath)("monitor page in Chromium", () => {
  beforeAll(async () => {
    oa = fakeOpenAI([KEYS.a, KEYS.b]);
    gw = startGateway({
      gateway: `proxy:
  auth_mode: strict
  api_keys: [{ name: desk, key: ${CLIENT_KEY} }]
  admin_key: ${ADMIN_KEY}
  cooldown_wait: 0
  request_log: { flush_ms: 20 }
${upstreamsYaml([
  {
    name: "oa",
    protocol: "openai",
    base_url: `${oa.url}/v1`,
    accounts: [
      { name: "a", key: KEYS.a },
      { name: "b", key: KEYS.b },
    ],
  },
])}`,
      mappings: `exact:\n  fast: oa/gpt-4o-real\n  ${LONG_MODEL}: oa/gpt-4o-real-with-a-rather-long-deployment-name\n`,
    });
    bare = startGateway({
      gateway: `proxy:
  request_log: { flush_ms: 20 }
${upstreamsYaml([{ name: "oa", protocol: "openai", base_url: `${oa.url}/v1`, accounts: [{ name: "a", key: KEYS.a }] }])}`,
      mappings: "exact:\n  fast: oa/gpt-4o-real\n",
    });
    // Account a runs out of credit: a whole-account cooldown of minutes, so its countdown is visible.
    oa.replyOnce(
      {
        status: 402,
        body: JSON.stringify({
          error: {
            message: "Insufficient credit",
            type: "insufficient_quota",
            param: null,
            code: "insufficient_quota",
          },
        }),
      },
      KEYS.a,
    );
    // Account b answers one request mostly from its prompt cache: 80 of 100 input tokens.
    oa.replyOnce(
      {
        status: 200,
        body: JSON.stringify({
          id: "chatcmpl-cached",
          object: "chat.completion",
          created: 1_700_000_000,
          model: "gpt-4o-real",
          choices: [
            {
              index: 0,
              message: { role: "assistant", content: "from the cache", refusal: null },
              logprobs: null,
              finish_reason: "stop",
            },
          ],
          usage: {
            prompt_tokens: 100,
            completion_tokens: 3,
            total_tokens: 103,
            prompt_tokens_details: { cached_tokens: 80, audio_tokens: 0 },
          },
        }),
      },
      KEYS.b,
    );
    for (let i = 0; i < 4; i++) expect((await ask("fast", `warm ${i}`)).status).toBe(200);
    // A long model name, which must wrap rather than push the table wider, and a refused request, whose error has a line of its own.
    expect((await ask(LONG_MODEL)).status).toBe(200);
    expect((await ask(undefined)).status).toBe(400);
    profile = tempDir("levity-chromium-");
    browser = await launchChromium(browserPath!, profile);
    mkdirSync(SHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
    await bare?.stop();
    await oa?.stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  async function openPage(
    origin: string,
    width = 1280,
    view = "",
  ): Promise<{ page: Page; sent: Sent[] }> {
    const page = await browser.newPage();
    await page.setViewportSize({ width, height: 900 });
    const sent: Sent[] = [];
    page.on("request", (request) =>
      sent.push({ url: request.url(), authorization: request.headers().authorization }),
    );
    await page.goto(`${origin}/ui${view}`, { waitUntil: "load" });
    return { page, sent };
  }

  async function signIn(page: Page, key: string): Promise<void> {
    await page.getByLabel("Admin key").fill(key);
    await page.getByRole("button", { name: "Sign in" }).click();
  }

  /** The form is there at once, fully readable, and the page has asked levity for nothing. */
  async function expectSignInFirst(page: Page, sent: Sent[]): Promise<void> {
    await page.getByRole("heading", { name: "levity monitor" }).waitFor({ timeout: 3000 });
    expect(await page.locator("#app").isVisible()).toBe(false);
    const { text, room } = await placeholderRoom(page);
    expect(text).toBeGreaterThan(0);
    expect(text).toBeLessThanOrEqual(room);
    expect(adminCalls(sent)).toEqual([]);
  }

  const logged = async (origin: string) =>
    (
      await bodyOf(
        await fetch(`${origin}/levity/logs?limit=1000`, {
          headers: { authorization: `Bearer ${ADMIN_KEY}` },
        }),
      )
    ).requests as any[];

  test("opens on the sign-in form without calling levity; a wrong key is refused and logged, the right one shows the gateway (1280 px)", async () => {
    const { page, sent } = await openPage(gw.origin);
    await expectSignInFirst(page, sent);

    await signIn(page, CLIENT_KEY);
    await page.getByText("That key was refused").waitFor();
    expect(await page.locator("#app").isVisible()).toBe(false);

    await signIn(page, ADMIN_KEY);
    await page.locator("#cards [data-card='Status'] .value").getByText("ok").waitFor();
    expect(await page.locator("#status-line").textContent()).toContain("auth strict");
    expect(await page.locator("#cards [data-card='Cooling'] .value").textContent()).toBe("1");
    // With a key, signing out is offered.
    expect(await page.getByRole("button", { name: "Sign out" }).isVisible()).toBe(true);
    expect(await page.locator("#no-key").isVisible()).toBe(false);

    // Accounts: a is cooling with a countdown of minutes that ticks down; b is healthy.
    const rowA = page.locator("#accounts tbody[data-account='oa/a']");
    await rowA.locator(".state").getByText("cooling").waitFor();
    const first = (await rowA.locator(".countdown").textContent())!;
    // Five minutes, give or take the 20% jitter.
    expect(first).toMatch(/^[3-6] min \d+ s$/);
    const countdownChanged = (before: string) =>
      (globalThis as any).document.querySelector("#accounts tbody[data-account='oa/a'] .countdown")
        ?.textContent !== before;
    await page.waitForFunction(countdownChanged, first, { timeout: 5000 });
    // Its error is on a line of its own under the row.
    expect(await rowA.locator("tr.detail .error").textContent()).toContain("Insufficient credit");
    expect(await page.locator("#accounts tbody[data-account='oa/b'] .state").textContent()).toBe(
      "healthy",
    );
    // Cache hits: account b's share of input read from the prompt cache, and the request that did.
    const accounts = (
      await bodyOf(
        await fetch(`${gw.origin}/levity/accounts`, {
          headers: { authorization: `Bearer ${ADMIN_KEY}` },
        }),
      )
    ).accounts as any[];
    const b = accounts.find((a) => a.account === "b").tokens;
    expect(b.cached).toBe(80);
    expect(
      await page
        .locator("#accounts tbody[data-account='oa/b'] td[data-label='Cache hit']")
        .textContent(),
    ).toBe(`${Math.round((100 * b.cached) / b.input)}%`);
    expect(
      await page.locator("#requests td[data-label='Cached']", { hasText: /^80$/ }).count(),
    ).toBe(1);

    // Recent requests: the warm-up ones, and a new one appears without a reload.
    await page.locator("#requests tbody").first().waitFor();
    expect(await page.locator("#requests tbody", { hasText: "/v1/chat/completions" }).count()).toBe(
      6,
    );
    expect(
      await page
        .locator("#requests tbody", { hasText: "model is required" })
        .locator("tr.main td[data-label='Status']")
        .textContent(),
    ).toBe("400");
    const fresh = await ask("fast", "arrives live");
    const freshId = fresh.headers.get("x-request-id")!;
    await page.locator(`#requests tbody[data-request-id='${freshId}']`).waitFor({ timeout: 5000 });
    const cells = await page
      .locator(`#requests tbody[data-request-id='${freshId}'] tr.main td`)
      .allTextContents();
    expect(cells.slice(1, 6)).toEqual([
      "200",
      "/v1/chat/completions",
      "fast",
      "gpt-4o-real",
      "oa/b",
    ]);
    expect(cells.slice(-2)).toEqual(["desk", "Replay"]);

    // The refused sign-in is in the log (and so on the page) as the audit trail: the key typed
    // was wrong. Nothing the page did on its own before that is: no keyless call at all.
    const refusedRow = page.locator("#requests tbody", { hasText: "/levity/status" });
    await refusedRow.first().waitFor();
    expect(await refusedRow.count()).toBe(1);
    expect(await refusedRow.locator("tr.main td[data-label='Status']").textContent()).toBe("401");
    const refused = (await logged(gw.origin)).filter((r) => r.route === "/levity/status");
    expect(
      refused.map((r) => [
        r.status,
        r.error.startsWith("The key sent is not this levity gateway's admin key"),
      ]),
    ).toEqual([[401, true]]);
    expect(adminCalls(sent).filter((s) => !s.authorization)).toEqual([]);

    // Token usage chart: bars for today, a legend per model, and per account when asked.
    await page.locator("#usage-chart rect").first().waitFor();
    expect(await page.locator("#usage-empty").isVisible()).toBe(false);
    const legend = await page.locator("#usage-legend").textContent();
    expect(legend).toMatch(/gpt-4o-real · [\d,]+ tokens/);
    // The scale is round numbers of tokens, never a repeated label.
    const axis = await page.locator("#usage-chart text[text-anchor='end']").allTextContents();
    expect(new Set(axis).size).toBe(3);
    await page.locator("#usage-by").selectOption("account");
    await page
      .locator("#usage-legend")
      .getByText(/^oa\/b · /)
      .waitFor();
    const today = new Date().toISOString().slice(0, 10);
    expect(await page.locator(`#usage-chart rect[data-day='${today}']`).count()).toBeGreaterThan(0);
    await page.locator("#usage-by").selectOption("model");

    // At 1280 px everything fits: no table sticks out of its section, every column is in view.
    await expectNoOverflow(page);
    const tokensOut = await page
      .locator(`#requests tbody[data-request-id='${freshId}'] td[data-label='Tokens out']`)
      .boundingBox();
    expect(tokensOut!.x + tokensOut!.width).toBeLessThanOrEqual(1280);
    await page.screenshot({ path: join(SHOTS, "monitor.png"), fullPage: true });

    // Nothing was fetched from anywhere but levity, and the key is not in the page.
    expect(sent.filter((s) => !s.url.startsWith(gw.origin))).toEqual([]);
    expect(await page.content()).not.toContain(ADMIN_KEY);
    await page.close();
  }, 30_000);

  test("on a phone (390 px) each account and request is a card, and nothing sticks out", async () => {
    const { page, sent } = await openPage(gw.origin, 390);
    await expectSignInFirst(page, sent);
    await expectNoOverflow(page);
    await signIn(page, ADMIN_KEY);
    await page
      .locator("#accounts tbody[data-account='oa/a'] .state")
      .getByText("cooling")
      .waitFor();
    await page.locator("#requests tbody", { hasText: LONG_MODEL }).waitFor();
    await page.locator("#usage-chart rect").first().waitFor();
    await expectNoOverflow(page);
    // Every value of every request is on screen, with its label.
    const boxes = await page
      .locator("#requests tbody tr.main td:not(:empty)")
      .evaluateAll((cells: any[]) =>
        cells.map((c) => ({
          label: c.dataset.label,
          left: c.getBoundingClientRect().left,
          right: c.getBoundingClientRect().right,
          shown: (globalThis as any).getComputedStyle(c, "::before").content,
        })),
      );
    expect(boxes.length).toBeGreaterThan(20);
    for (const box of boxes) {
      expect(box.left).toBeGreaterThanOrEqual(0);
      expect(box.right).toBeLessThanOrEqual(390);
      expect(box.shown).toBe(JSON.stringify(box.label));
    }
    const disable = await page
      .locator("#accounts tbody[data-account='oa/b']")
      .getByRole("button", { name: "Disable" })
      .boundingBox();
    expect(disable!.x + disable!.width).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(SHOTS, "monitor-390.png"), fullPage: true });
    await page.close();
  }, 30_000);

  test("with no admin key (auth off): the form first, an empty key opens the page, no Sign out, empty states instead of an empty chart", async () => {
    for (const width of [1280, 390]) {
      const { page, sent } = await openPage(bare.origin, width);
      await expectSignInFirst(page, sent);
      await page.getByText("leave this empty").waitFor();
      await signIn(page, "");
      await page.locator("#cards [data-card='Status'] .value").getByText("ok").waitFor();
      expect(await page.locator("#status-line").textContent()).toContain("auth off");
      // Nothing to sign out of: no button, and the page says why.
      expect(await page.getByRole("button", { name: "Sign out" }).isVisible()).toBe(false);
      expect(await page.locator("#no-key").textContent()).toBe("no admin key (auth off)");
      expect(adminCalls(sent).filter((s) => s.authorization !== undefined)).toEqual([]);

      // No tokens: a sentence, not an axis of made-up numbers.
      await page.getByText("No tokens used in the last 14 days.").waitFor();
      expect(await page.locator("#usage-chart").isVisible()).toBe(false);
      expect(await page.locator("#usage-chart text").count()).toBe(0);
      expect(await page.locator("#usage-legend span").count()).toBe(0);
      await page.getByText("No requests yet").waitFor();
      expect(await page.locator("#requests").isVisible()).toBe(false);
      await expectNoOverflow(page);
      await page.screenshot({ path: join(SHOTS, `monitor-empty-${width}.png`), fullPage: true });

      // A reload of the tab stays signed in, still without a key.
      await page.reload({ waitUntil: "load" });
      await page.locator("#cards [data-card='Status'] .value").getByText("ok").waitFor();
      expect(await page.getByRole("button", { name: "Sign out" }).isVisible()).toBe(false);
      await page.close();
    }
    // The page's calls succeeded, so none of them is in the request log.
    const records = (await bodyOf(await fetch(`${bare.origin}/levity/logs?limit=1000`)))
      .requests as any[];
    expect(records).toEqual([]);
  }, 30_000);

  test("the Disable button takes an account out of rotation, Enable puts it back", async () => {
    const { page } = await openPage(gw.origin);
    // The key is kept for the browser tab's session only; a new page signs in again.
    await page.getByLabel("Admin key").waitFor();
    await signIn(page, ADMIN_KEY);
    const rowB = page.locator("#accounts tbody[data-account='oa/b']");
    await rowB.getByRole("button", { name: "Disable" }).click();
    await rowB.locator(".state").getByText("disabled").waitFor();
    const accounts = (
      await bodyOf(
        await fetch(`${gw.origin}/levity/accounts`, {
          headers: { authorization: `Bearer ${ADMIN_KEY}` },
        }),
      )
    ).accounts as any[];
    expect(accounts.find((a) => a.account === "b").state).toBe("disabled");
    await rowB.getByRole("button", { name: "Enable" }).click();
    await rowB.locator(".state").getByText("healthy").waitFor();
    // A reload keeps the tab signed in; signing out forgets the key.
    await page.reload({ waitUntil: "load" });
    await rowB.locator(".state").getByText("healthy").waitFor();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Admin key").waitFor();
    await page.reload({ waitUntil: "load" });
    await page.getByRole("heading", { name: "levity monitor" }).waitFor();
    expect(await page.locator("#app").isVisible()).toBe(false);
    await page.close();
  }, 30_000);

  const keysOf = async () =>
    (
      await bodyOf(
        await fetch(`${gw.origin}/levity/keys`, {
          headers: { authorization: `Bearer ${ADMIN_KEY}` },
        }),
      )
    ).keys as any[];

  test("Keys view (1280 px): every key with its status, limits and use; Add key shows the secret once with Copy; Edit changes limits; Revoke asks first", async () => {
    const { page, sent } = await openPage(gw.origin);
    const form = page.locator("#key-form");
    await signIn(page, ADMIN_KEY);
    await page.locator("#cards [data-card='Status'] .value").getByText("ok").waitFor();
    await page.getByRole("link", { name: "Keys" }).click();
    expect(new URL(page.url()).hash).toBe("#keys");
    expect(await page.locator("#view-overview").isVisible()).toBe(false);
    // gateway.yaml's key is listed, read-only: no buttons.
    const desk = page.locator("#keys tbody[data-key='desk']");
    await desk.waitFor();
    expect(await desk.locator("td[data-label='Source']").textContent()).toBe("gateway.yaml");
    expect(await desk.locator("td[data-label='Status']").textContent()).toBe("active");
    expect(await desk.getByRole("button").count()).toBe(0);

    // Add a key with limits: its secret is shown once, with a note and a Copy button.
    await form.getByLabel("Name").fill("alice");
    await form.getByLabel("Models (globs, space between)").fill("gpt-* o3");
    await form.getByLabel("Requests per minute").fill("60");
    await form.getByLabel("Tokens per day").fill("100000");
    await form.getByLabel("US$ per month").fill("25");
    await form.getByLabel("Expires").fill("2030-12-31");
    await page.getByRole("button", { name: "Add key" }).click();
    const secretBox = page.locator("#new-secret");
    await secretBox.waitFor();
    const secret = await page.getByLabel("New key's secret").inputValue();
    rememberSecret(secret);
    expect(secret).toMatch(/^sk-levity-[A-Za-z0-9_-]{32}$/);
    expect(await secretBox.textContent()).toContain("shown this once and will not be shown again");
    expect(await page.locator("#new-secret-name").textContent()).toBe("alice");
    await browser.grantPermissions(["clipboard-read", "clipboard-write"], { origin: gw.origin });
    await page.getByRole("button", { name: "Copy" }).click();
    await page.getByRole("button", { name: "Copied" }).waitFor();
    expect(await page.evaluate(() => (globalThis as any).navigator.clipboard.readText())).toBe(
      secret,
    );
    const alice = page.locator("#keys tbody[data-key='alice']");
    await alice.waitFor();
    expect(await alice.locator("td[data-label='Limits']").textContent()).toBe(
      "models gpt-*, o3 · rpm 60 · daily tokens 100,000 · monthly $25.00 · expires 2030-12-31",
    );
    expect(await alice.locator("td[data-label='Status']").textContent()).toBe("active");
    expect((await keysOf()).find((k) => k.name === "alice").limits).toEqual({
      models: ["gpt-*", "o3"],
      rpm: 60,
      daily_tokens: 100_000,
      monthly_usd: 25,
      expires: "2031-01-01T00:00:00.000Z",
    });
    // Done: the secret leaves the page; polling never brings it back.
    await page.getByRole("button", { name: "Done" }).click();
    expect(await secretBox.isVisible()).toBe(false);
    expect(await page.content()).not.toContain(secret);

    // A name taken: levity's own words, under the form.
    await form.getByLabel("Name").fill("alice");
    await page.getByRole("button", { name: "Add key" }).click();
    await page.locator("#form-error").getByText('A key named "alice" already exists').waitFor();
    await form.getByLabel("Name").fill("");

    // Edit: the form holds the key's limits; an emptied field removes that limit.
    await alice.getByRole("button", { name: "Edit" }).click();
    await page.getByRole("heading", { name: "Edit the limits of alice" }).waitFor();
    expect(await form.getByLabel("Requests per minute").inputValue()).toBe("60");
    expect(await form.getByLabel("Name").isDisabled()).toBe(true);
    await form.getByLabel("Requests per minute").fill("120");
    await form.getByLabel("Tokens per day").fill("");
    await page.getByRole("button", { name: "Save limits" }).click();
    await alice
      .locator("td[data-label='Limits']")
      .getByText("models gpt-*, o3 · rpm 120 · monthly $25.00 · expires 2030-12-31", {
        exact: true,
      })
      .waitFor();
    await page.getByRole("heading", { name: "Add key" }).waitFor();
    const changed = (await keysOf()).find((k) => k.name === "alice").limits;
    expect([changed.rpm, changed.daily_tokens]).toEqual([120, undefined]);

    // Revoke asks first: dismissed, nothing happens; accepted, the key is revoked and stays listed.
    const asked: string[] = [];
    page.once("dialog", (dialog) => {
      asked.push(dialog.message());
      void dialog.dismiss();
    });
    await alice.getByRole("button", { name: "Revoke" }).click();
    expect(asked[0]).toContain("Revoke the key alice?");
    expect((await keysOf()).find((k) => k.name === "alice").status).toBe("active");
    page.once("dialog", (dialog) => void dialog.accept());
    await alice.getByRole("button", { name: "Revoke" }).click();
    await alice.locator("td[data-label='Status']").getByText("revoked").waitFor();
    expect(await alice.getByRole("button").count()).toBe(0);
    expect((await keysOf()).find((k) => k.name === "alice").status).toBe("revoked");

    // A second key, unrevoked, for the picture.
    await form.getByLabel("Name").fill("ci-runner");
    await form.getByLabel("Models (globs, space between)").fill("claude-*");
    await form.getByLabel("At once").fill("2");
    await form.getByLabel("Networks (space between)").fill("10.0.0.0/8");
    await page.getByRole("button", { name: "Add key" }).click();
    await secretBox.waitFor();
    rememberSecret(await page.getByLabel("New key's secret").inputValue());
    await page.getByRole("button", { name: "Done" }).click();
    await page.locator("#keys tbody[data-key='ci-runner']").waitFor();

    await expectNoOverflow(page);
    await page.screenshot({ path: join(SHOTS, "monitor-keys.png"), fullPage: true });
    expect(sent.filter((s) => !s.url.startsWith(gw.origin))).toEqual([]);
    await page.close();
  }, 30_000);

  test("Keys view on a phone (390 px): each key is a card, the form fits, a reload keeps the view", async () => {
    const { page } = await openPage(gw.origin, 390, "#keys");
    await signIn(page, ADMIN_KEY);
    const card = page.locator("#keys tbody[data-key='ci-runner']");
    await card.waitFor();
    expect(await page.locator("#view-keys").isVisible()).toBe(true);
    await expectNoOverflow(page);
    for (const box of await page
      .locator("#keys tbody tr.main td:not(:empty), #key-form input, #key-form button:visible")
      .evaluateAll((nodes: any[]) => nodes.map((n) => n.getBoundingClientRect().right)))
      expect(box).toBeLessThanOrEqual(390);
    const revoke = await card.getByRole("button", { name: "Revoke" }).boundingBox();
    expect(revoke!.x + revoke!.width).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(SHOTS, "monitor-keys-390.png"), fullPage: true });
    await page.reload({ waitUntil: "load" });
    await card.waitFor();
    expect(await page.locator("#view-overview").isVisible()).toBe(false);
    await page.close();
  }, 30_000);

  /** /levity/usage once the request log holds `requests` requests (it is written in batches). */
  const waitForUsage = (
    admin: (path: string) => Promise<any>,
    by: string,
    requests: number,
  ): Promise<any> =>
    waitUntil(`${requests} requests in /levity/usage`, async () => {
      const answer = await admin(`/levity/usage?by=${by}&since=7d`);
      return answer.total.requests === requests && answer;
    });

  test("Usage view: by key, model, upstream or account, since 1, 7 or 30 days; requests, tokens and cost with a total, equal to /levity/usage and to the prices' arithmetic (1280 and 390 px)", async () => {
    // A team's gateway of its own, so every row is known: two keys in gateway.yaml and one made
    // through the admin API, gateway.yaml's prices, and one model nobody priced.
    const team = fakeOpenAI([KEYS.a, KEYS.b], { usage: TEAM_USAGE });
    const tg = startGateway({
      gateway: `proxy:
  auth_mode: strict
  api_keys:
    - { name: alice, key: ${TEAM.alice} }
    - { name: desk, key: ${TEAM.desk} }
  admin_key: ${ADMIN_KEY}
  request_log: { flush_ms: 20 }
prices:
  gpt-4o: { input: ${GPT_4O[0]}, cached_input: ${GPT_4O[1]}, output: ${GPT_4O[2]} }
  gpt-4o-mini: { input: ${GPT_4O_MINI[0]}, cached_input: ${GPT_4O_MINI[1]}, output: ${GPT_4O_MINI[2]} }
${upstreamsYaml([
  {
    name: "oa",
    protocol: "openai",
    base_url: `${team.url}/v1`,
    accounts: [
      { name: "a", key: KEYS.a },
      { name: "b", key: KEYS.b },
    ],
  },
])}`,
      mappings:
        "exact:\n  gpt-4o: oa/gpt-4o\n  gpt-4o-mini: oa/gpt-4o-mini\n  team-finetune: oa/team-finetune\n",
    });
    try {
      const admin = async (path: string, init: RequestInit = {}) =>
        bodyOf(
          await fetch(`${tg.origin}${path}`, {
            ...init,
            headers: { authorization: `Bearer ${ADMIN_KEY}` },
          }),
        );
      const made = await admin("/levity/keys", {
        method: "POST",
        body: JSON.stringify({ name: "ci-runner" }),
      });
      const ci = made.secret as string;
      rememberSecret(ci);
      const client = (key: string) =>
        new OpenAI({ apiKey: key, baseURL: `${tg.origin}/v1`, maxRetries: 0 });
      const say = (key: string, model: string, times: number) =>
        Promise.all(
          Array.from({ length: times }, (_, i) =>
            client(key).chat.completions.create({
              model,
              messages: [{ role: "user", content: `task ${i}` }],
            }),
          ),
        );
      await say(TEAM.alice, "gpt-4o", 12);
      await say(ci, "gpt-4o-mini", 20);
      await say(TEAM.desk, "gpt-4o", 3);
      await say(TEAM.desk, "team-finetune", 1);
      // Refused before any upstream: an error, no tokens, no cost.
      const refused = await fetch(`${tg.origin}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${TEAM.desk}` },
        body: JSON.stringify({ messages: [{ role: "user", content: "no model" }] }),
      });
      expect(refused.status).toBe(400);

      // The arithmetic from gateway.yaml's prices, one request's usage at a time.
      const gpt = byHand(GPT_4O, TEAM_USAGE);
      const mini = byHand(GPT_4O_MINI, TEAM_USAGE);
      const byKey = await waitForUsage(admin, "key", 37);
      expect(
        byKey.rows.map((r: any) => [r.name, r.requests, r.errors, r.unpriced_requests]),
      ).toEqual([
        ["alice", 12, 0, 0],
        ["desk", 5, 1, 1],
        ["ci-runner", 20, 0, 0],
      ]);
      const costs = Object.fromEntries(byKey.rows.map((r: any) => [r.name, r.cost_usd]));
      expect(costs.alice).toBeCloseTo(12 * gpt, 9);
      expect(costs.desk).toBeCloseTo(3 * gpt, 9);
      expect(costs["ci-runner"]).toBeCloseTo(20 * mini, 9);
      expect(byKey.total.cost_usd).toBeCloseTo(15 * gpt + 20 * mini, 9);
      expect(byKey.total.input_tokens).toBe(36 * TEAM_USAGE.input);
      expect(byKey.total.unpriced_requests).toBe(1);

      /**
       * The view's cells for one answer's row, as the page formats them: one number of decimals
       * for the whole Cost column, two significant digits of its smallest cost above zero.
       */
      const cells = (r: any, name: string, digits: number) => [
        name,
        ...[
          r.requests,
          r.errors,
          r.input_tokens,
          r.output_tokens,
          r.cached_tokens,
          r.reasoning_tokens,
        ].map((n) => n.toLocaleString("en-US")),
        `$${r.cost_usd.toFixed(digits)}${r.unpriced_requests ? " *" : ""}`,
      ];
      const digitsFor = (rows: any[]) => {
        const smallest = Math.min(...rows.map((r) => r.cost_usd).filter((c) => c > 0));
        return Math.min(6, Math.max(2, 1 - Math.floor(Math.log10(smallest))));
      };
      /** The table on the page against the endpoint's answer for the same question. */
      const expectViewToBe = async (page: Page, answer: any) => {
        const digits = digitsFor(answer.rows);
        const rows = await page
          .locator("#report tbody:not(.total) tr.main")
          .evaluateAll((trs: any[]) =>
            trs.map((tr) => [...tr.cells].map((c: any) => c.textContent)),
          );
        expect(rows).toEqual(answer.rows.map((r: any) => cells(r, r.name || "(none)", digits)));
        expect(await page.locator("#report tbody.total td").allTextContents()).toEqual(
          cells(answer.total, "Total", digits),
        );
      };

      for (const width of [1280, 390]) {
        const page = await browser.newPage();
        await page.setViewportSize({ width, height: 900 });
        await page.goto(`${tg.origin}/ui#usage`, { waitUntil: "load" });
        const first = page.waitForResponse((r) =>
          r.url().endsWith("/levity/usage?by=key&since=7d"),
        );
        await signIn(page, ADMIN_KEY);
        await first;
        await page.locator("#report tbody[data-name='alice']").waitFor();
        await expectViewToBe(page, await admin("/levity/usage?by=key&since=7d"));
        // The prices' arithmetic, to the tenth of a cent that ci-runner's $0.066 needs: every
        // cost in the column to the same decimals, so $0.660 never reads as $0.66 beside $0.066.
        expect(await page.locator("#report tbody td[data-label='Cost']").allTextContents()).toEqual(
          [
            `$${(12 * gpt).toFixed(3)}`,
            `$${(3 * gpt).toFixed(3)} *`,
            `$${(20 * mini).toFixed(3)}`,
            `$${(15 * gpt + 20 * mini).toFixed(3)} *`,
          ],
        );
        expect((20 * mini).toFixed(3)).toBe("0.066");
        expect(await page.locator("#report-note").textContent()).toBe(
          "* 1 request had no known price: its cost is not counted.",
        );
        await expectNoOverflow(page);
        if (width === 390) {
          for (const right of await page
            .locator("#report tbody tr.main td")
            .evaluateAll((cells: any[]) => cells.map((c) => c.getBoundingClientRect().right)))
            expect(right).toBeLessThanOrEqual(390);
        }
        await page.screenshot({
          path: join(SHOTS, width === 1280 ? "monitor-usage.png" : "monitor-usage-390.png"),
          fullPage: true,
        });

        // Each grouping: the page asks for it and shows what the endpoint answers.
        for (const [by, row] of [
          ["model", "team-finetune"],
          ["upstream", "oa"],
          ["account", "oa/b"],
        ] as const) {
          await Promise.all([
            page.waitForResponse((r) => r.url().endsWith(`/levity/usage?by=${by}&since=7d`)),
            page.locator("#report-by").selectOption(by),
          ]);
          await page.locator(`#report tbody[data-name='${row}']`).waitFor();
          expect(await page.locator("#report th").first().textContent()).toBe(
            by[0]!.toUpperCase() + by.slice(1),
          );
          await expectViewToBe(page, await admin(`/levity/usage?by=${by}&since=7d`));
        }
        // The period: all of this traffic is minutes old, so 30 days and 1 day hold the same
        // rows. What shows the period is asked for is the request, and the window it answers.
        for (const [since, days] of [
          ["30d", 30],
          ["1d", 1],
        ] as const) {
          const [answered] = await Promise.all([
            page.waitForResponse((r) =>
              r.url().endsWith(`/levity/usage?by=account&since=${since}`),
            ),
            page.locator("#report-since").selectOption(since),
          ]);
          const answer = await answered.json();
          expect(Date.parse(answer.until) - Date.parse(answer.since)).toBeCloseTo(
            days * 86_400_000,
            -4,
          );
          await expectViewToBe(page, answer);
        }
        await expectNoOverflow(page);
        await page.close();
      }
    } finally {
      await tg.stop();
      await team.stop();
    }
  }, 60_000);

  test("Usage view with no traffic in the period: a sentence, no table of zeros", async () => {
    const page = await browser.newPage();
    await page.goto(`${bare.origin}/ui#usage`, { waitUntil: "load" });
    await signIn(page, "");
    await page.locator("#report-since").selectOption("1d");
    await page.getByText("No requests in the last day.").waitFor();
    expect(await page.locator("#report").isVisible()).toBe(false);
    await page.close();
  });

  test("across every page opened here, the log holds only the one sign-in typed wrong: no keyless call", async () => {
    const refused = (await logged(gw.origin)).filter((r) => r.status === 401);
    expect(refused.map((r) => r.route)).toEqual(["/levity/status"]);
    expect(refused.filter((r) => /carried none/.test(r.error ?? ""))).toEqual([]);
  });

  test("the page is one self-contained document that forbids frames and outside connections", async () => {
    const response = await fetch(`${gw.origin}/ui`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const policy = response.headers.get("content-security-policy")!;
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain("connect-src 'self'");
    expect(policy).toContain("frame-ancestors 'none'");
    const html = await response.text();
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=["']?https?:/i);
  });
});
