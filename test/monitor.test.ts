import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { chromiumPath, launchChromium } from "./support/browser.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { REPO, startGateway, tempDir, upstreamsYaml, type TestGateway } from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";

// The monitor page at /ui, in headless Chromium, as a person would use it: sign in with the admin
// key, see the gateway, the accounts with their countdowns, requests arriving, the token chart.

const ADMIN_KEY = "sk-admin-monitor-0123456789";
const CLIENT_KEY = "sk-client-monitor-0123456789";
const KEYS = { a: "sk-account-a-monitor-111111", b: "sk-account-b-monitor-222222" };
const ARTIFACTS = join(REPO, "test-artifacts");
const browserPath = chromiumPath();

let oa: FakeUpstream;
let gw: TestGateway;
let browser: BrowserContext;
let profile: string;

const ask = (content: string) =>
  fetch(`${gw.origin}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${CLIENT_KEY}` }, body: JSON.stringify({ model: "fast", messages: [{ role: "user", content }] }) });

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
${upstreamsYaml([{ name: "oa", protocol: "openai", base_url: `${oa.url}/v1`, accounts: [{ name: "a", key: KEYS.a }, { name: "b", key: KEYS.b }] }])}`,
      mappings: "exact:\n  fast: oa/gpt-4o-real\n",
    });
    // Account a runs out of credit: a whole-account cooldown of minutes, so its countdown is visible.
    oa.replyOnce({ status: 402, body: JSON.stringify({ error: { message: "Insufficient credit", type: "insufficient_quota", param: null, code: "insufficient_quota" } }) }, KEYS.a);
    for (let i = 0; i < 4; i++) expect((await ask(`warm ${i}`)).status).toBe(200);
    profile = tempDir("levity-chromium-");
    browser = await launchChromium(browserPath!, profile);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
    await oa?.stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  async function openPage(): Promise<{ page: Page; requested: string[] }> {
    const page = await browser.newPage();
    const requested: string[] = [];
    page.on("request", (request) => requested.push(request.url()));
    await page.goto(`${gw.origin}/ui`);
    return { page, requested };
  }

  async function signIn(page: Page, key: string): Promise<void> {
    await page.getByLabel("Admin key").fill(key);
    await page.getByRole("button", { name: "Sign in" }).click();
  }

  test("asks for the admin key, refuses a wrong one, and shows the gateway with the right one", async () => {
    const { page, requested } = await openPage();
    // The form shows once the page has found that it needs a key (its first, keyless call is refused).
    await page.getByRole("heading", { name: "levity monitor" }).waitFor();

    await signIn(page, CLIENT_KEY);
    await page.getByText("That key was refused").waitFor();
    expect(await page.locator("#app").isVisible()).toBe(false);

    await signIn(page, ADMIN_KEY);
    await page.locator("#cards [data-card='Status'] .value").getByText("ok").waitFor();
    expect(await page.locator("#status-line").textContent()).toContain("auth strict");
    expect(await page.locator("#cards [data-card='Cooling'] .value").textContent()).toBe("1");

    // Accounts: a is cooling with a countdown of minutes that ticks down; b is healthy.
    const rowA = page.locator("#accounts tr[data-account='oa/a']");
    await rowA.locator(".state").getByText("cooling").waitFor();
    const first = (await rowA.locator(".countdown").textContent())!;
    // Five minutes, give or take the 20% jitter.
    expect(first).toMatch(/^[3-6] min \d+ s$/);
    // (The page's CSP forbids evaluating strings; a function is passed to the page as is.)
    const countdownChanged = (before: string) => (globalThis as any).document.querySelector("#accounts tr[data-account='oa/a'] .countdown")?.textContent !== before;
    await page.waitForFunction(countdownChanged, first, { timeout: 5000 });
    expect(await rowA.locator("td.error").textContent()).toContain("Insufficient credit");
    expect(await page.locator("#accounts tr[data-account='oa/b'] .state").textContent()).toBe("healthy");

    // Recent requests: the warm-up ones, and a new one appears without a reload.
    await page.locator("#requests tbody tr").first().waitFor();
    // The four warm-up requests, after the refused sign-ins (which the log keeps too).
    expect(await page.locator("#requests tbody tr", { hasText: "/v1/chat/completions" }).count()).toBe(4);
    expect(await page.locator("#requests tbody tr", { hasText: "/levity/status" }).first().textContent()).toContain("401");
    const fresh = await ask("arrives live");
    const freshId = fresh.headers.get("x-request-id")!;
    await page.locator(`#requests tr[data-request-id='${freshId}']`).waitFor({ timeout: 5000 });
    const cells = await page.locator(`#requests tr[data-request-id='${freshId}'] td`).allTextContents();
    expect(cells.slice(1, 6)).toEqual(["200", "/v1/chat/completions", "fast", "gpt-4o-real", "oa/b"]);
    expect(cells[11]).toBe("desk");

    // Token usage chart: bars for today, a legend per model, and per account when asked.
    await page.locator("#usage-chart rect").first().waitFor();
    const legend = await page.locator("#usage-legend").textContent();
    expect(legend).toMatch(/gpt-4o-real · [\d,]+ tokens/);
    await page.locator("#usage-by").selectOption("account");
    await page.locator("#usage-legend").getByText(/^oa\/b · /).waitFor();
    const today = new Date().toISOString().slice(0, 10);
    expect(await page.locator(`#usage-chart rect[data-day='${today}']`).count()).toBeGreaterThan(0);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "monitor.png"), fullPage: true });

    // Nothing was fetched from anywhere but levity, and the key is not in the page.
    expect(requested.filter((url) => !url.startsWith(gw.origin))).toEqual([]);
    expect(await page.content()).not.toContain(ADMIN_KEY);
    await page.close();
  }, 30_000);

  test("the Disable button takes an account out of rotation, Enable puts it back", async () => {
    const { page } = await openPage();
    // The key is kept for the browser tab's session only; a new page signs in again.
    await page.getByLabel("Admin key").waitFor();
    await signIn(page, ADMIN_KEY);
    const rowB = page.locator("#accounts tr[data-account='oa/b']");
    await rowB.getByRole("button", { name: "Disable" }).click();
    await rowB.locator(".state").getByText("disabled").waitFor();
    const accounts = (await bodyOf(await fetch(`${gw.origin}/levity/accounts`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } }))).accounts as any[];
    expect(accounts.find((a) => a.account === "b").state).toBe("disabled");
    await rowB.getByRole("button", { name: "Enable" }).click();
    await rowB.locator(".state").getByText("healthy").waitFor();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Admin key").waitFor();
    await page.close();
  }, 30_000);

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
