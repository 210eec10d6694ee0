import { existsSync } from "node:fs";
import { chromium, type BrowserContext } from "playwright-core";

/*
 * Debian's Chromium, driven by playwright-core. A fresh machine with only Node and npm has no
 * browser: there the browser tests are skipped with a notice, unless LEVITY_REQUIRE_BROWSER is
 * set (CI sets it, after installing the chromium package), in which case a missing browser fails.
 */

const CANDIDATES = [
  process.env.LEVITY_CHROMIUM,
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome",
].filter((p): p is string => Boolean(p));

export function chromiumPath(): string | undefined {
  const found = CANDIDATES.find((path) => existsSync(path));
  if (!found && process.env.LEVITY_REQUIRE_BROWSER)
    throw new Error(
      `LEVITY_REQUIRE_BROWSER is set but no Chromium was found (looked at ${CANDIDATES.join(", ")}); apt-get install chromium`,
    );
  if (!found)
    console.warn(
      "browser tests skipped: no Chromium found (apt-get install chromium, or set LEVITY_CHROMIUM)",
    );
  return found;
}

/** Headless Chromium with a fresh profile, nothing fetched from the network on its own. */
export function launchChromium(
  executablePath: string,
  userDataDir: string,
): Promise<BrowserContext> {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
