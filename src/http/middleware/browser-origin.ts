import { check } from "../compose.ts";
import { originTrustedWithoutAuth } from "../cors.ts";
import { GatewayError } from "../../failure.ts";
import type { Step } from "../exchange.ts";

/**
 * With auth off, any web page the user visits could post to the gateway and spend their accounts;
 * browsers always send Origin on such requests, CLIs and SDKs on a server do not. So while auth is
 * off, a request from a web page is served only from loopback pages and origins listed by name.
 */
export const refuseUntrustedBrowser: Step = check((exchange) => {
  const { origin, snapshot, policies } = exchange;
  if (
    origin &&
    snapshot.proxy.effectiveAuth === "off" &&
    !originTrustedWithoutAuth(policies.cors, origin)
  )
    throw new GatewayError(
      403,
      `Browser requests from ${origin} are refused while auth is off, because any web page could otherwise use your accounts. ` +
        `Turn auth on (auth_mode: strict or all_except_health, with an api_key) or list this origin in proxy.cors_origins.`,
    );
  return undefined;
});
