// The default routes and mappings are compiled into the binary; files in the config directory replace them.
import routesText from "../../routes.yaml" with { type: "text" };
import mappingsText from "../../mappings.yaml" with { type: "text" };

export const BUILT_IN_ROUTES: string = routesText as unknown as string;
export const BUILT_IN_MAPPINGS: string = mappingsText as unknown as string;

/**
 * The two built-in files' values as JSON, as their schemas' checks return them, put in by
 * build.ts (`define`) when it compiles the binary, from the same texts as above
 * (built-in-values.ts); absent when levity runs from source.
 */
declare const LEVITY_BUILT_IN_JSON: { routes: string; mappings: string } | undefined;

/**
 * A built-in file's checked value, parsed again from its JSON on every load (so no two loads
 * share an object), or undefined where the binary was not built with it (then the YAML is parsed
 * and checked).
 */
export function builtInValue(name: "routes" | "mappings"): unknown {
  if (typeof LEVITY_BUILT_IN_JSON === "undefined") return undefined;
  return JSON.parse(LEVITY_BUILT_IN_JSON[name]);
}
