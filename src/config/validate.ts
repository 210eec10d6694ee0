import * as v from "valibot";
import { formatKeyPath, type ConfigProblem } from "./problem.ts";
import { lineOf, type YamlSource } from "./yaml-source.ts";

/**
 * The message for any check that has no message of its own. valibot's default quotes the value
 * it received, which in gateway.yaml may be a key; this one says only what was expected.
 */
function withoutReceivedValue(issue: v.BaseIssue<unknown>): string {
  return `must be ${issue.expected ?? "something else"}`;
}

/**
 * Validates a parsed YAML document, or the part of it at `at`, against a schema; every issue
 * carries file, line and key.
 */
export function validateSource<S extends v.GenericSchema>(
  source: YamlSource,
  schema: S,
  at: (string | number)[] = [],
): { value?: v.InferOutput<S>; problems: ConfigProblem[] } {
  const root = (source.value !== undefined ? source.value : source.doc.toJS()) ?? {};
  const input = at.reduce<unknown>(
    (node, key) =>
      node === null || node === undefined
        ? undefined
        : (node as Record<string | number, unknown>)[key],
    root,
  );
  const result = v.safeParse(schema, input, {
    abortPipeEarly: true,
    message: withoutReceivedValue,
  });
  if (result.success) return { value: result.output, problems: [] };
  const problems = result.issues.map((issue) => {
    const path = [...at, ...(issue.path ?? []).map((step) => step.key as string | number)];
    const unknownKey = issue.type === "strict_object" && issue.expected === "never";
    return {
      file: source.file,
      line: lineOf(source, path),
      key: formatKeyPath(path),
      message: unknownKey ? "is not a known key (check its spelling)" : issue.message,
    };
  });
  return { problems };
}
