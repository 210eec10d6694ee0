// The default routes and mappings are compiled into the binary; files in the config directory replace them.
import routesText from "../../routes.yaml" with { type: "text" };
import mappingsText from "../../mappings.yaml" with { type: "text" };

export const BUILT_IN_ROUTES: string = routesText as unknown as string;
export const BUILT_IN_MAPPINGS: string = mappingsText as unknown as string;
