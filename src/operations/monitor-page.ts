import { monitorPageResponse } from "../ui/monitor-page.ts";
import type { OperationHandler } from "./context.ts";

/** The monitor page's shell: it holds no data, and reads everything it shows from the admin surface. */
export const monitorPage: OperationHandler = () => monitorPageResponse();
