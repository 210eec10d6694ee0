import type { EmbedRequest } from "../codecs/embedding.ts";
import { parseGeminiEmbedRequest, renderGeminiEmbedAnswer } from "../codecs/gemini/embeddings.ts";
import {
  parseOpenAIEmbedRequest,
  renderOpenAIEmbedAnswer,
} from "../codecs/openai-compatible/embeddings.ts";
import { resolveModel } from "../mapping/resolve.ts";
import { embedRunner } from "../pipeline/embed.ts";
import { serveWithPool } from "../pipeline/serve.ts";
import type { OperationHandler } from "./context.ts";
import { poolContext, requestedModel } from "./generate.ts";

/*
 * OpenAI's POST /v1/embeddings and Gemini's :embedContent and :batchEmbedContents: the request
 * read into one shape (codecs/embedding.ts), each mapping target a runner (pipeline/embed.ts),
 * the pool trying them as it tries generations, the answer in the client's own shape.
 */
export const embeddings: OperationHandler = async (ctx, services) => {
  const dialect = ctx.match.route.dialect;
  if (!dialect || !ctx.body)
    throw new Error(`route ${ctx.match.route.path} has no dialect or body`);
  const model = requestedModel(ctx, dialect);
  const gemini = dialect === "gemini";
  const batch = !ctx.match.route.path.endsWith(":embedContent");
  const request: EmbedRequest = gemini
    ? parseGeminiEmbedRequest(ctx.body.json, batch)
    : parseOpenAIEmbedRequest(ctx.body.json);
  ctx.trace.requested(model, false);
  const snapshot = ctx.snapshot;
  const { targets } = resolveModel(snapshot.mappings, model, snapshot.upstreams[0]!.name);
  const runners = targets.map((target) => {
    const upstream = snapshot.upstreamByName.get(target.upstream);
    if (!upstream) throw new Error(`mapping target names unknown upstream ${target.upstream}`);
    return embedRunner({
      ctx,
      request,
      target,
      upstream,
      upstreamClient: services.upstreamClient,
      tokens: services.tokens,
      render: (answer, served) =>
        gemini
          ? renderGeminiEmbedAnswer(answer, batch)
          : renderOpenAIEmbedAnswer(answer, served, request.encoding),
    });
  });
  return serveWithPool(poolContext(ctx, services, {}), runners);
};
