import { Counter, Gauge } from "../observe/prometheus.ts";
import { redactedUrl } from "../state/shared-link.ts";
import type { ConfigSnapshot } from "../config/snapshot.ts";
import type { GatewayServices } from "./context.ts";

/*
 * The link to shared state as /healthz, /levity/status (and so the monitor page) and /metrics
 * report it: up, or down since when and why, with this instance serving from its own state.
 */

export interface SharedStateDetail {
  /** The Redis URL without its password. */
  url: string;
  up: boolean;
  /** "shared": the pool is the fleet's; "local": this instance decides alone until Redis is back. */
  mode: "shared" | "local";
  since: string;
  reason?: string;
  failedCalls: number;
}

/** Undefined when gateway.yaml names no shared state: nothing to report. */
export function sharedStateDetail(
  snapshot: ConfigSnapshot,
  services: GatewayServices,
): SharedStateDetail | undefined {
  if (!services.shared || !snapshot.state) return undefined;
  const status = services.shared.status();
  return {
    url: redactedUrl(snapshot.state.url),
    up: status.up,
    mode: status.up ? "shared" : "local",
    since: new Date(status.since).toISOString(),
    ...(status.reason ? { reason: status.reason } : {}),
    failedCalls: status.failedCalls,
  };
}

/** The link's two series, in Prometheus' text format; empty without shared state. */
export function sharedStateMetrics(services: GatewayServices): string {
  if (!services.shared) return "";
  const status = services.shared.status();
  const up = new Gauge(
    "levity_shared_state_up",
    "1 while the shared state (Redis) answers; 0 while this instance serves from its own state.",
    [],
  );
  up.set([], status.up ? 1 : 0);
  const failures = new Counter(
    "levity_shared_state_failures_total",
    "Calls to the shared state that failed or timed out, each answered from this instance's own state.",
    [],
  );
  failures.report([], status.failedCalls);
  return up.render() + failures.render();
}
