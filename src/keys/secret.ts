import { createHash } from "node:crypto";

/** A new client key's secret: 24 random bytes, as `levity init` writes them. */
export function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return `sk-levity-${Buffer.from(bytes).toString("base64url")}`;
}

/** Hex SHA-256: the only form in which a key's secret is kept. */
export function digestOf(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Key names appear in logs, metrics labels and URLs: letters, digits and . _ @ -, up to 64. */
export const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
export const KEY_NAME_RULE =
  "a key name is 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit";
