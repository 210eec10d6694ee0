import { check } from "../compose.ts";
import { browserRedirect, wantsHtml } from "../../operations/index-page.ts";
import type { Step } from "../exchange.ts";

/**
 * Opening the gateway in a browser sends it to the monitor page, before authentication: the
 * redirect holds nothing, and the page itself needs no key, so neither does the way there.
 */
export const redirectBrowser: Step = check((exchange) => {
  const { route, options, request, snapshot } = exchange;
  return route?.operation === "index" && !options.websocket && wantsHtml(request)
    ? browserRedirect(snapshot.routes)
    : undefined;
});
