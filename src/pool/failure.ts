// The failure types now live in src/failure.ts; this re-export goes once every importer points there.
export type { Failure, FailureKind } from "../failure.ts";
