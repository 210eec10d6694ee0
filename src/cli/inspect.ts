import { tableLines } from "./table.ts";
import { describeResolution, resolveModel } from "../mapping/resolve.ts";
import { modelLimits } from "../mapping/model-limits.ts";
import type { Target } from "../mapping/table.ts";
import { describeOpenAIServing, describeSnapshot } from "../config/describe.ts";
import { tildify } from "../config/locate.ts";
import { CliExit, loadForCommand, type CliIO, type CommonFlags } from "./context.ts";
import { configLine, passedOverLine } from "./startup-block.ts";

/** `levity check`: validates every file and reports what would serve. */
export function checkCommand(flags: CommonFlags, io: CliIO): void {
  const { snapshot, choice } = loadForCommand(flags, io);
  io.out(`ok: ${configLine(snapshot, choice)}\n`);
  const passedOver = passedOverLine(choice);
  if (passedOver) io.out(`  ${passedOver}\n`);
  io.out(`  ${describeSnapshot(snapshot)}\n`);
  for (const upstream of snapshot.upstreams) {
    if (upstream.baseUrlNote)
      io.out(`  note: upstream ${upstream.name}: base_url ${upstream.baseUrlNote}\n`);
    const family = describeOpenAIServing(upstream);
    if (family) io.out(`  upstream ${upstream.name}: ${family}\n`);
  }
}

/** `levity routes`: the route table, aliases, overlaps and path repairs. */
export function routesCommand(flags: CommonFlags, io: CliIO): void {
  // Routes need no upstream's key: a shell without the keys' variables (a service's levity.env) can list them.
  const { snapshot } = loadForCommand(flags, io, { accountKeysUnused: true });
  const table = snapshot.routes;
  const rows = table.routes.map((r) => [
    r.method,
    r.path,
    r.dialect ?? "-",
    r.operation + (r.stream ? " (stream)" : ""),
    r.auth,
    r.aliases.join(", "),
  ]);
  const header = ["METHOD", "PATH", "DIALECT", "OPERATION", "AUTH", "ALIASES"];
  io.out(`${tableLines(header, rows).join("\n")}\n`);
  for (const overlap of table.source.overlaps) {
    const choices = overlap.by_body.map((c) => `${c.field} -> ${c.route}`).join(", ");
    io.out(
      `\noverlapped paths ${overlap.paths.join(", ")}\n  routed by the first body field present: ${choices}\n`,
    );
  }
  const n = table.source.normalize;
  const repairs = [
    n.collapse_slashes && "collapse //",
    n.strip_trailing_slash && "strip a trailing /",
    n.collapse_repeated_prefixes.length > 0 &&
      `collapse repeated ${n.collapse_repeated_prefixes.join(", ")}`,
    n.glued_endpoints &&
      "serve an endpoint pasted as a Base URL (an API path + an API route -> that route)",
  ].filter(Boolean);
  io.out(`\npath repairs: ${repairs.join("; ") || "none"}\nsource: ${snapshot.sources.routes}\n`);
}

/** `levity resolve MODEL`: which rule a model name hits and where it goes. */
export function resolveCommand(model: string | undefined, flags: CommonFlags, io: CliIO): void {
  if (!model) {
    io.err("levity resolve: name a model, e.g. `levity resolve gpt-6.1-sol`\n");
    throw new CliExit(2);
  }
  const { snapshot, choice } = loadForCommand(flags, io, { accountKeysUnused: true });
  const resolution = resolveModel(snapshot.mappings, model, snapshot.upstreams[0]!.name);
  // The rule's file the way the start-up block and check write it: ~/.config/levity/mappings.yaml.
  const shown =
    resolution.rule.file === undefined
      ? resolution
      : {
          ...resolution,
          rule: { ...resolution.rule, file: tildify(resolution.rule.file, choice.home) },
        };
  io.out(`${describeResolution(model, shown)}\n`);
  for (const target of resolution.targets) {
    const upstream = snapshot.upstreamByName.get(target.upstream);
    if (upstream)
      io.out(
        `  upstream ${upstream.name}: ${upstream.protocol}${upstream.baseUrl ? ` at ${upstream.baseUrl}` : ""}, ${upstream.accounts.length || "no"} account(s), ${upstream.strategy}\n`,
      );
    const limits = describeLimits(target);
    if (limits) io.out(`  model ${target.model}: ${limits}\n`);
  }
}

/** A target's context window as the window check holds it, and where that comes from. */
function describeLimits(target: Target): string | undefined {
  const limits = modelLimits(target.model, target.limits);
  if (!limits) return undefined;
  const count = (n: number) => n.toLocaleString("en-US");
  const output = limits.maxOutput === undefined ? "" : `, ${count(limits.maxOutput)} out`;
  const source = target.limits ? "mappings.yaml" : "built-in table";
  return `${count(limits.contextWindow)} tokens in${output}; reads ${limits.modalities.join(", ")} (${source})`;
}
