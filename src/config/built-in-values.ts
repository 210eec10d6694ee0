import { parseYaml } from "./yaml-source.ts";

/**
 * What build.ts compiles into the binary for a built-in file (defaults.ts): its value as JSON,
 * exactly as the YAML parser reads it at run time. A built-in file is never interpolated (it
 * holds no `${NAME}`: checked here) and must parse without a problem, or the build fails.
 */
export function builtInJson(label: string, text: string): string {
  const { source, problems } = parseYaml(label, text);
  if (problems.length > 0)
    throw new Error(`${label} does not parse: ${problems.map((p) => p.message).join("; ")}`);
  const value = source.doc.toJS();
  const json = JSON.stringify(value);
  if (json.includes("$"))
    throw new Error(
      `${label} holds a "$": a built-in file is not interpolated, so it may hold none`,
    );
  return json;
}
