/*
 * npm run conformance -- --base-url URL --model openai=gpt-4o-mini --model anthropic=claude-haiku-4-5 [...]
 *
 * Runs the conformance matrix (six official-SDK clients x every upstream x their cases), the
 * embeddings cases for each --embedding-model, and OpenAI audio transcriptions to every upstream,
 * against any gateway, so another gateway can be held to the same standard as levity. Without --base-url
 * it runs against levity in front of scripted fake upstreams, as `npm test` does.
 *
 * npm run conformance -- --kit [--base-url URL --key KEY ...] runs the CLI traffic kit (kit/)
 * instead: recorded coding-CLI requests, against that gateway or a levity started here.
 */
import { parseArgs } from "node:util";
import { kitAgainstLocalLevity } from "./kit-local.ts";

// --kit: the CLI traffic kit (kit/) instead of the SDK matrix; every other argument is the kit's.
if (process.argv.includes("--kit"))
  process.exit(await kitAgainstLocalLevity(process.argv.slice(2).filter((a) => a !== "--kit")));

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    "base-url": { type: "string" },
    key: { type: "string" },
    model: { type: "string", multiple: true },
    "embedding-model": { type: "string", multiple: true },
    "missing-model": { type: "string" },
    "image-model": { type: "string", multiple: true },
    case: { type: "string", multiple: true },
    help: { type: "boolean", short: "h" },
  },
});

if (values.help) {
  console.log(`Usage: npm run conformance -- [--base-url URL] [--key KEY] [--model UPSTREAM=MODEL ...] [--missing-model NAME] [--case NAME ...]

  --base-url URL         the gateway's origin, e.g. http://127.0.0.1:8045 (clients add /v1, /v1beta themselves)
  --key KEY              the gateway's client key, sent the way each SDK sends it
  --model UPSTREAM=MODEL a model name that reaches one upstream; one test column each ("echo=..." expects echo's behaviour)
  --embedding-model UPSTREAM=MODEL
                         an embedding model behind the gateway: runs the embeddings cases against it
  --image-model UPSTREAM=MODEL  a model that makes images on that upstream: the openai images client
                         runs "image generation" and "image edit" there (columns without one skip them)
  --missing-model NAME   a model the upstreams do not have, for the "upstream error" case (default levity-missing-model)
  --case NAME            run only these cases: plain, streamed, "tool round trip", "image in", "system prompt", thinking, "upstream error",
                         "image generation", "image edit"`);
  process.exit(0);
}

const env: Record<string, string> = { ...(process.env as Record<string, string>) };
if (values["base-url"]) {
  if (!values.model?.length) {
    console.error(
      "--base-url needs at least one --model UPSTREAM=MODEL (for example --model openai=gpt-4o-mini)",
    );
    process.exit(2);
  }
  env.CONFORMANCE_BASE_URL = values["base-url"];
  env.CONFORMANCE_MODELS = values.model.join(",");
  if (values.key) env.CONFORMANCE_API_KEY = values.key;
  if (values["missing-model"]) env.CONFORMANCE_MISSING_MODEL = values["missing-model"];
  if (values["embedding-model"]?.length)
    env.CONFORMANCE_EMBEDDING_MODELS = values["embedding-model"].join(",");
  if (values["image-model"]?.length) env.CONFORMANCE_IMAGE_MODELS = values["image-model"].join(",");
}
if (values.case?.length) env.CONFORMANCE_CASES = values.case.join(",");

// The embeddings cases run locally, and against a gateway when it was given embedding models.
const files = ["test/conformance/matrix.test.ts", "test/conformance/transcriptions.test.ts"];
if (!values["base-url"] || values["embedding-model"]?.length)
  files.push("test/conformance/embeddings.test.ts");
const child = Bun.spawn([process.execPath, "test", ...files], {
  env,
  stdout: "inherit",
  stderr: "inherit",
});
process.exit(await child.exited);
