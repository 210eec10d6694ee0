import pageText from "./monitor.html" with { type: "text" };

/*
 * The monitor page, compiled into the binary: one HTML file with its styles and script inline,
 * nothing fetched from elsewhere. It holds no data; it asks for the admin key and reads /levity/*.
 */
const PAGE: string = pageText as unknown as string;

export function monitorPageResponse(): Response {
  return new Response(PAGE, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      // Only this page's own inline code and same-origin calls; no frames, so no clickjacking of the admin buttons.
      "content-security-policy":
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    },
  });
}
