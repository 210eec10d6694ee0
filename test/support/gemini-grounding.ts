/*
 * What Gemini adds to an answer when the request gave it Google Search (`googleSearch`) or URL
 * context (`urlContext`), as its documentation shows it: the candidate's groundingMetadata, with
 * the queries it ran, the pages (groundingChunks, each `web: {uri, title}`, the uri a
 * vertexaisearch redirect and the title the site's domain) and groundingSupports, whose segments
 * count UTF-8 bytes of the answer's text; and urlContextMetadata for each URL it fetched. Streamed,
 * it comes on the last chunk. The fake's searches are scripted: two pages per query.
 */

export const GROUNDING_REDIRECT = "https://vertexaisearch.cloud.google.com/grounding-api-redirect/";

/** The pages the fake "finds" for a query, in order. */
export function pagesFor(query: string): { uri: string; title: string }[] {
  const slug = query.toLowerCase().replace(/[^a-z0-9]+/g, "-");
  return [
    { uri: `${GROUNDING_REDIRECT}${slug}-1`, title: "levity.example" },
    { uri: `${GROUNDING_REDIRECT}${slug}-2`, title: "docs.example.org" },
  ];
}

function hasTool(body: any, name: string): boolean {
  return (body.tools ?? []).some((t: any) => t?.[name] !== undefined);
}

/** The query a search-grounded model would run for this prompt: after "query:" if it says so. */
function queryOf(text: string): string {
  return (/query:\s*(.+)$/im.exec(text)?.[1] ?? text).trim().slice(0, 100);
}

/** The candidate fields the answer gets, or none when the request gave Gemini neither tool. */
export function groundingFields(
  body: any,
  prompt: string,
  answer: string,
): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  if (hasTool(body, "googleSearch") || hasTool(body, "google_search")) {
    const query = queryOf(prompt);
    const bytes = Buffer.byteLength(answer, "utf8");
    fields.groundingMetadata = {
      webSearchQueries: [query],
      searchEntryPoint: { renderedContent: "<style></style><div>search</div>" },
      groundingChunks: pagesFor(query).map((web) => ({ web })),
      groundingSupports:
        bytes > 0
          ? [
              {
                segment: { startIndex: 0, endIndex: bytes, text: answer },
                groundingChunkIndices: [0, 1],
              },
            ]
          : [],
    };
  }
  if (hasTool(body, "urlContext") || hasTool(body, "url_context")) {
    const urls = prompt.match(/https?:\/\/\S+/g) ?? [];
    fields.urlContextMetadata = {
      urlMetadata: urls.map((retrievedUrl) => ({
        retrievedUrl,
        urlRetrievalStatus: "URL_RETRIEVAL_STATUS_SUCCESS",
      })),
    };
  }
  return fields;
}
