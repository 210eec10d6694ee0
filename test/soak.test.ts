import { expect, test } from "bun:test";
import { runSoak } from "../bench/soak.ts";

// The two-minute version of `bun bench/soak.ts` (30 minutes): see bench/soak.ts for what it drives and checks.
const SECONDS = Number(process.env.LEVITY_SOAK_SECONDS ?? 120);

test(
  `soak: ${SECONDS} s of mixed dialects, streamed and whole, one upstream request in ten faulted`,
  async () => {
    const report = await runSoak({ seconds: SECONDS, workers: 6 });
    const { samples, ...summary } = report;
    console.log(
      `soak: ${JSON.stringify({ ...summary, malformed: summary.malformed.slice(0, 5) })}`,
    );
    // Every answer complete and well-formed, or a well-formed error.
    expect(report.malformed).toEqual([]);
    expect(report.requests).toBeGreaterThan(SECONDS * 20);
    expect(report.ok / report.requests).toBeGreaterThan(0.9);
    expect(Object.values(report.faultsInjected).every((n) => n > 0)).toBe(true);
    // Flat after warm-up.
    expect(report.rss.growth).toBeLessThan(0.15);
    expect(report.fds.maxAfter).toBeLessThanOrEqual(report.fds.warm + 10);
    // The request log holds every request.
    expect(report.missingFromLog).toBe(0);
    expect(report.logRows).toBeGreaterThanOrEqual(report.requests);
  },
  (SECONDS + 60) * 1000,
);
