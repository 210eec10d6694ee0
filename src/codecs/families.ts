import { anthropicFamily } from "./anthropic-messages/family.ts";
import type { FamilyModule } from "./family.ts";
import { geminiFamily } from "./gemini/family.ts";
import type { Family } from "./names.ts";
import { openaiFamily } from "./openai-compatible/family.ts";

/*
 * The vendor families, apart from the dialect table (index.ts): error shapes, failure words and
 * rate-limit headers are asked for by modules that need no codec, and importing only the families
 * keeps them from loading every codec (and from an import cycle through codecs/errors.ts).
 */
export const FAMILIES: Readonly<Record<Family, FamilyModule>> = {
  openai: openaiFamily,
  anthropic: anthropicFamily,
  gemini: geminiFamily,
};

/** Every family, for the answers whose family levity does not know (a relay may pass on another's words). */
export const FAMILY_LIST: readonly FamilyModule[] = Object.values(FAMILIES);

/** The family whose SDK sent its own header (anthropic-version, then x-goog-api-key), if any. */
export function familyBySdkHeader(headers: Headers): FamilyModule | undefined {
  // A loop, not find with an arrow over `headers`: every request asks, and each made a function.
  for (const family of FAMILY_LIST)
    if (family.sdkHeader && headers.has(family.sdkHeader)) return family;
  return undefined;
}
