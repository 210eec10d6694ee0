import type { Dialect } from "../../kit/src/dialect.ts";
import { baseUrlOf, type Fakes } from "../../kit/src/fakes/server.ts";
import { levityConfig } from "../../kit/src/recipes.ts";
import { type ConfigFiles, startGateway, type TestGateway } from "./gateway.ts";

/*
 * A real levity configured the way the kit's README tells an operator to: one upstream per fake
 * of the conformance kit, each kit model name mapped to its own fake.
 */

export function levityFilesForKit(fakes: Fakes, extraProxy = ""): ConfigFiles {
  const urls = Object.fromEntries(
    Object.values(fakes).map((fake) => [fake.dialect, baseUrlOf(fake)]),
  ) as Record<Dialect, string>;
  const config = levityConfig(urls);
  return { gateway: `${extraProxy}${config.gateway}`, mappings: config.mappings };
}

export function levityForKit(fakes: Fakes, extraProxy = ""): TestGateway {
  return startGateway(levityFilesForKit(fakes, extraProxy));
}
