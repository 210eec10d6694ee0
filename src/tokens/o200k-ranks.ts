import tablePath from "gpt-tokenizer/data/o200k_base.tiktoken" with { type: "file" };
import { GptEncoding } from "gpt-tokenizer/GptEncoding";

/*
 * The o200k_base tokenizer built from the tiktoken rank file that gpt-tokenizer ships, embedded in
 * the binary as a file of its own. The package's own table is a JavaScript module of 200,000
 * string literals: bundled, it was 3.8 MB of the program's 5 MB of source, and a compiled binary
 * reads its whole program at start, so it was 3.4 MB of the idle gateway's resident memory
 * although it is loaded only with the first count. A file is read only when it is opened.
 * (Bun only: `type: "file"` is Bun's; on Deno the counter loads the package's module.)
 */

/**
 * Each rank's bytes as gpt-tokenizer's own table has them: a string where they read as UTF-8, else
 * the bytes; a token that starts with a byte-order mark stays bytes there too.
 * src/tokens/o200k-ranks.test.ts holds it to the package's table, rank for rank.
 */
export function ranksFromTiktoken(text: string): (string | number[])[] {
  // Fatal, so that bytes that are not UTF-8 stay bytes; the BOM kept, so that it is seen.
  const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const ranks: (string | number[])[] = [];
  // Line by line in place: splitting 200,000 lines first held them all at once.
  for (let at = 0; at < text.length; ) {
    const newline = text.indexOf("\n", at);
    const end = newline === -1 ? text.length : newline;
    const space = text.indexOf(" ", at);
    if (space > at && space < end)
      ranks[Number(text.slice(space + 1, end))] = tokenOf(
        utf8,
        Uint8Array.fromBase64(text.slice(at, space)),
      );
    at = end + 1;
  }
  return ranks;
}

function tokenOf(utf8: TextDecoder, bytes: Uint8Array): string | number[] {
  const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  if (!bom)
    try {
      return utf8.decode(bytes);
    } catch {
      // Not UTF-8: the bytes themselves.
    }
  return Array.from(bytes);
}

/** The tokenizer's count, once the table has been read from the embedded file. */
export async function o200kCounter(): Promise<(text: string) => number> {
  const ranks = ranksFromTiktoken(await Bun.file(tablePath).text());
  const encoding = GptEncoding.getEncodingApi("o200k_base", () => ranks);
  return (text) => encoding.countTokens(text);
}
