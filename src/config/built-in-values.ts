import { isDeepStrictEqual } from "node:util";
import type * as v from "valibot";
import { validateSource } from "./validate.ts";
import { parsedSource, parseYaml } from "./yaml-source.ts";

/**
 * What build.ts compiles into the binary for a built-in file (defaults.ts): its value as JSON,
 * as its schema's check returns it, so that levity need not check it again at every start (the
 * two files' checks were 1.5-3.5 ms of one). A built-in file is never interpolated (it holds no
 * `${NAME}`: checked here), and must parse, pass its schema and come back from JSON unchanged,
 * or the build fails.
 */
export function builtInJson(label: string, text: string, schema: v.GenericSchema): string {
  const { source, problems } = parseYaml(label, text);
  if (problems.length > 0)
    throw new Error(`${label} does not parse: ${problems.map((p) => p.message).join("; ")}`);
  const value = source.doc.toJS();
  if (JSON.stringify(value).includes("$"))
    throw new Error(
      `${label} holds a "$": a built-in file is not interpolated, so it may hold none`,
    );
  const checked = validateSource(parsedSource(label, text, value), schema);
  if (checked.problems.length > 0)
    throw new Error(
      `${label} does not pass its schema: ${checked.problems.map((p) => `${p.key ?? "(top)"} ${p.message}`).join("; ")}`,
    );
  const json = JSON.stringify(checked.value);
  if (!isDeepStrictEqual(JSON.parse(json), checked.value))
    throw new Error(`${label}'s checked value does not come back from JSON unchanged`);
  return json;
}
