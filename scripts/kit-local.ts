/*
 * npm run conformance -- --kit [kit options]: the CLI traffic kit against a levity started here,
 * in this process, in front of the kit's fakes (with --base-url the kit runs against that gateway
 * instead, as `npx @levity/cli-traffic-kit` would).
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { DIALECTS, type Dialect } from "../kit/src/dialect.ts";
import { closeFakes, startFakes } from "../kit/src/fakes/server.ts";
import { loadFixtures } from "../kit/src/fixtures.ts";
import { main } from "../kit/src/main.ts";
import { DEFAULT_MODELS } from "../kit/src/recipes.ts";
import { cellText, markdown } from "../kit/src/report.ts";
import { runKit } from "../kit/src/run.ts";
import { levityForKit } from "../test/support/kit-levity.ts";

export async function kitAgainstLocalLevity(argv: string[]): Promise<number> {
  // With a gateway to hold, a question or a config to print, it is the kit's own command line.
  const own = ["--base-url", "--help", "-h", "--print-config"];
  if (argv.some((arg) => own.some((flag) => arg === flag || arg.startsWith(`${flag}=`))))
    return main(argv);
  const { values } = parseArgs({
    args: argv,
    options: {
      fixtures: { type: "string" },
      cli: { type: "string", multiple: true },
      session: { type: "string", multiple: true },
      dialect: { type: "string", multiple: true },
    },
  });
  const dir = resolve(values.fixtures ?? "test/fixtures/cli-traffic");
  const fixtures = (existsSync(dir) ? loadFixtures(dir) : []).filter(
    (f) =>
      (!values.cli || values.cli.includes(f.cli)) &&
      (!values.session || values.session.includes(f.session)),
  );
  if (fixtures.length === 0) {
    console.error(`no recorded sessions to replay in ${dir}`);
    return 2;
  }
  const fakes = await startFakes();
  const gateway = levityForKit(fakes);
  try {
    const cells = await runKit({
      baseUrl: gateway.origin,
      key: "sk-cli-traffic-kit",
      models: DEFAULT_MODELS,
      fakes,
      fixtures,
      dialects: (values.dialect as Dialect[] | undefined) ?? DIALECTS,
      timeoutMs: 60_000,
      onCell: (cell) =>
        console.error(
          `  ${cell.cli} ${cell.version} ${cell.session} -> ${cell.upstream}: ${cellText(cell)}`,
        ),
    });
    console.log(markdown(cells));
    return cells.some((c) => c.status === "fail") ? 1 : 0;
  } finally {
    await gateway.stop();
    await closeFakes(fakes);
  }
}
