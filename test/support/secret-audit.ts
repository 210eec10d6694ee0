import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/*
 * The whole suite's search for leaked keys. Every key a test writes into a gateway.yaml is
 * remembered, and every key a test makes through the admin API (test/support/keys.ts); everything a gateway writes (its log lines, a process's output, the files in its
 * data directory) is searched for every key remembered so far, as it is written or before it is
 * deleted. test/support/preload.ts fails the run if anything was found.
 */

const secrets = new Set<string>();
const leaks: string[] = [];

// The values of key:, api_key: and admin_key: (quoted or not), long enough to be real keys.
const KEY_FIELD = /\b(?:key|api_key|admin_key):\s*["']?([A-Za-z0-9_.-]{10,})/g;

export function rememberSecretsIn(yaml: string): void {
  for (const match of yaml.matchAll(KEY_FIELD)) secrets.add(match[1]!);
}

/** A secret no YAML holds: a key made through the admin API or `levity keys add`, once the test has read it. */
export function rememberSecret(secret: string): void {
  secrets.add(secret);
}

export function searchForSecrets(where: string, text: string): void {
  for (const secret of secrets) if (text.includes(secret)) leaks.push(`${secret} in ${where}`);
}

/** Every file under `dir` except the configuration a test wrote itself. */
export function searchDirectory(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) searchDirectory(path);
    else if (!/\.(ya?ml|env)$/.test(entry.name))
      searchForSecrets(path, readFileSync(path).toString("latin1"));
  }
}

export function leaksFound(): { secrets: number; leaks: string[] } {
  return { secrets: secrets.size, leaks: [...new Set(leaks)] };
}
