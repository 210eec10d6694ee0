import { readTranscriptionRequest } from "../codecs/openai-compatible/transcription.ts";
import { resolveModel } from "../mapping/resolve.ts";
import { serveWithPool } from "../pipeline/serve.ts";
import { transcriptionRunner } from "../pipeline/transcribe.ts";
import type { GatewayServices, RequestContext } from "./context.ts";
import { poolContext } from "./generate.ts";

/**
 * POST /v1/audio/transcriptions: the form read and checked, the model mapped, and each target
 * tried through the pool like a generation (retries, cooldowns, fallbacks, the request log).
 */
export async function transcribe(
  ctx: RequestContext,
  services: GatewayServices,
): Promise<Response> {
  const form = ctx.multipart;
  if (!form) throw new Error(`route ${ctx.match.route.path} is not read as multipart`);
  const request = readTranscriptionRequest(form);
  ctx.trace.requested(request.model, request.stream);
  const { snapshot } = ctx;
  const resolution = resolveModel(snapshot.mappings, request.model, snapshot.upstreams[0]!.name);
  const runners = resolution.targets.map((target) => {
    const upstream = snapshot.upstreamByName.get(target.upstream);
    if (!upstream) throw new Error(`mapping target names unknown upstream ${target.upstream}`);
    return transcriptionRunner({
      ctx,
      form,
      request,
      target,
      upstream,
      upstreamClient: services.upstreamClient,
    });
  });
  return serveWithPool(poolContext(ctx, services, {}), runners);
}
