/*
 * A model family: the model's name without the marks of one release of it. Providers sign
 * thinking per model, and a dated snapshot and its alias are the same model
 * (`claude-sonnet-4-5-20250929` is what `claude-sonnet-4-5` answers as), so a signature is bound
 * to the family, never to the exact name the client wrote.
 */

/** Release marks at the end of a name, stripped one after another until none is left. */
const RELEASE_SUFFIXES: readonly RegExp[] = [
  // Bedrock's version after the name: anthropic.claude-3-sonnet-20240229-v1:0
  /-v\d+(?::\d+)?$/,
  // Vertex's snapshot after @: claude-3-5-sonnet@20240620
  /@[\w.-]+$/,
  // Dates: -20250929, -2024-08-06, -05-20 (month-day after preview/exp), -09-2025
  /-\d{8}$/,
  /-\d{4}-\d{2}-\d{2}$/,
  /-\d{2}-\d{4}$/,
  /-(?:preview|exp|experimental)-\d{2}-\d{2}$/,
  /-\d{2}-\d{2}$/,
  // Channels and numbered builds: -latest, -preview, -exp, -001, -0613, -2407 (not a size: -405)
  /-(?:latest|preview|exp|experimental)$/,
  /-(?:0\d{2}|\d{4})$/,
];

/** Any of the marks above at the end: a name without one (most of them) is its own family. */
const ANY_RELEASE_SUFFIX = new RegExp(
  `(?:${RELEASE_SUFFIXES.map((suffix) => suffix.source.slice(0, -1)).join("|")})$`,
);

export function modelFamily(model: string): string {
  let name = model.trim().toLowerCase();
  if (name.startsWith("models/")) name = name.slice("models/".length);
  if (!ANY_RELEASE_SUFFIX.test(name)) return name;
  for (let changed = true; changed; ) {
    changed = false;
    for (const suffix of RELEASE_SUFFIXES) {
      const next = name.replace(suffix, "");
      // A name that is only a release mark ("latest") stays itself.
      if (next !== name && next.length > 0) {
        name = next;
        changed = true;
      }
    }
  }
  return name;
}
