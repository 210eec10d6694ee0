import { errorResponse } from "../codecs/errors.ts";
import {
  geminiImageBody,
  geminiImagePath,
  type ImageRequest,
  type InputImage,
  type ImageResult,
  imagenBody,
  imagenSampleCounts,
  imagesOfGemini,
  imagesOfImagen,
  parseImageRequest,
  renderOpenAIImages,
  usesPredict,
} from "../codecs/images.ts";
import { UPSTREAM_CODECS } from "../codecs/index.ts";
import {
  encodeMultipart,
  partBytes,
  partNamed,
  piecesStream,
  textField,
  textPart,
} from "../codecs/multipart.ts";
import type { Upstream } from "../config/snapshot.ts";
import { type Failure, failureOf, GatewayError } from "../failure.ts";
import { resolveModel } from "../mapping/resolve.ts";
import type { Target } from "../mapping/table.ts";
import { failureFromAnswer } from "../pipeline/answer-failure.ts";
import { sameDialectFailure } from "../pipeline/passthrough.ts";
import { type AttemptResult, serveWithPool, type TargetRunner } from "../pipeline/serve.ts";
import type { Lease } from "../pool/lease.ts";
import { echoImages } from "../upstream/echo.ts";
import { unixNow } from "../codecs/shared.ts";
import { clientResponseHeaders, upstreamRequestHeaders } from "../upstream/protocol.ts";
import type { GatewayServices, RequestContext } from "./context.ts";
import { poolContext } from "./generate.ts";

/*
 * POST /v1/images/generations (and edits, which add images to the request). Each mapping target
 * is a runner the pool tries like any generation's: an OpenAI upstream gets the request as it
 * came (the model mapped) at its own images path; a Gemini upstream gets it translated, to
 * Imagen's :predict or to an image model's generateContent (codecs/images.ts); an upstream that
 * makes no images is passed by, and named when none can.
 */

/** What one images route sends on: the path under an OpenAI base URL, and the request in levity's terms. */
export interface ImageCall {
  openaiPath: string;
  request: ImageRequest;
  /** An edit's images, read from the form only for an upstream that needs them in base64 (Gemini). */
  edit?: { images(): InputImage[]; mask: boolean };
  /**
   * The body an OpenAI upstream gets, for a target of this model: asked again for each attempt,
   * so that a stream (an edit's form, with its length) is a new one each time.
   */
  forwardBody(model: string): ForwardBody;
}

interface ForwardBody {
  body: string | ReadableStream<Uint8Array>;
  contentType: string;
  /** Set for a stream, sent as its Content-Length. */
  length?: number;
}

export function imageGenerations(ctx: RequestContext, services: GatewayServices) {
  const { json, text } = ctx.body!;
  const request = parseImageRequest(json);
  return serveImages(ctx, services, {
    openaiPath: "/images/generations",
    request,
    forwardBody: (model) => ({
      body: json.model === model ? text : JSON.stringify({ ...json, model }),
      contentType: "application/json",
    }),
  });
}

/** The form fields an edit's request is read from; its files are the images (and mask). */
const EDIT_FIELDS = [
  "prompt",
  "model",
  "n",
  "size",
  "quality",
  "response_format",
  "stream",
] as const;

/**
 * POST /v1/images/edits: a multipart form with one or more images (`image`, or `image[]` as the
 * SDKs send several) and an optional `mask`. An OpenAI upstream gets the form again, its parts
 * as they came, the model mapped; a Gemini image model gets the images inline beside the prompt.
 */
export function imageEdits(ctx: RequestContext, services: GatewayServices) {
  const form = ctx.multipart!;
  const fields: Record<string, unknown> = {};
  for (const name of EDIT_FIELDS) {
    const value = textField(form, name);
    if (value !== undefined) fields[name] = value;
  }
  const files = form.parts.filter(
    (part) => (part.name === "image" || part.name === "image[]") && part.filename !== undefined,
  );
  if (files.length === 0)
    throw new GatewayError(400, "image is required: send the image to edit as a file.", {
      param: "image",
    });
  let images: InputImage[] | undefined;
  return serveImages(ctx, services, {
    openaiPath: "/images/edits",
    request: parseImageRequest(fields),
    edit: {
      images: () =>
        (images ??= files.map((part) => ({
          mediaType: imageType(part.contentType, part.filename),
          data: Buffer.from(partBytes(part)).toString("base64"),
        }))),
      mask: partNamed(form, "mask") !== undefined,
    },
    forwardBody(model) {
      const parts = form.parts.map((part) =>
        part.name === "model" ? textPart("model", model) : part,
      );
      if (!partNamed(form, "model")) parts.push(textPart("model", model));
      const encoded = encodeMultipart(parts);
      // The parts' own pieces, streamed with their length: the images are not copied.
      return {
        body: piecesStream(encoded.pieces),
        contentType: encoded.contentType,
        length: encoded.length,
      };
    },
  });
}

/** A file's image type: its part's own, or from its name's extension (curl -F sends none for some). */
function imageType(contentType: string | undefined, filename: string | undefined): string {
  if (contentType?.startsWith("image/")) return contentType;
  const extension = filename?.toLowerCase().split(".").pop();
  if (extension === "jpg" || extension === "jpeg") return "image/jpeg";
  if (extension === "webp") return "image/webp";
  return "image/png";
}

export function serveImages(
  ctx: RequestContext,
  services: GatewayServices,
  call: ImageCall,
): Promise<Response> {
  const snapshot = ctx.snapshot;
  ctx.trace.requested(call.request.model, false);
  const { targets } = resolveModel(
    snapshot.mappings,
    call.request.model,
    snapshot.upstreams[0]!.name,
  );
  const runners = targets.map((target) => {
    const upstream = snapshot.upstreamByName.get(target.upstream);
    if (!upstream) throw new Error(`mapping target names unknown upstream ${target.upstream}`);
    return imageRunner(ctx, services, call, target, upstream);
  });
  return serveWithPool(poolContext(ctx, services, {}), runners);
}

function imageRunner(
  ctx: RequestContext,
  services: GatewayServices,
  call: ImageCall,
  target: Target,
  upstream: Upstream,
): TargetRunner {
  const runner = {
    upstream,
    model: target.model,
    failureResponse: (failure: Failure, headers: Headers) =>
      errorResponse(
        ctx.family,
        failure.status,
        failure.message,
        { headers: Object.fromEntries(headers) },
        ctx.requestId,
      ),
  };
  if (upstream.protocol === "openai")
    return {
      ...runner,
      // An OpenAI upstream's own error body is already in the client's shape.
      failureResponse: (failure, headers) => sameDialectFailure(ctx, failure, headers),
      attempt: (lease) => forwardToOpenAI(ctx, services, call, target, upstream, lease),
    };
  const refusal = refusalOf(call, target, upstream);
  if (refusal) return { ...runner, attempt: () => Promise.reject(refusal), refusal };
  if (upstream.protocol === "gemini")
    return {
      ...runner,
      attempt: (lease) => generateOnGemini(ctx, services, call, target, upstream, lease),
    };
  return {
    ...runner,
    async attempt(lease) {
      lease.finish({ ok: true });
      const images = echoImages(call.request.n);
      return {
        kind: "committed",
        response: Response.json(renderOpenAIImages(images, call.request.responseFormat, unixNow())),
      };
    },
  };
}

/**
 * Why a target other than OpenAI cannot serve this request, known before any account is used (it
 * is passed by): Anthropic makes no images; only OpenAI streams partial images; Imagen on the
 * Gemini API edits nothing; no Gemini model takes a mask.
 */
function refusalOf(call: ImageCall, target: Target, upstream: Upstream): GatewayError | undefined {
  const { request, edit } = call;
  if (upstream.protocol !== "gemini" && upstream.protocol !== "echo")
    return new GatewayError(
      400,
      `Model "${request.model}" maps to upstream "${upstream.name}" (protocol ${upstream.protocol}), which makes no images: map it to an OpenAI or Gemini upstream.`,
      { param: "model" },
    );
  if (request.stream)
    return new GatewayError(
      400,
      `Upstream "${upstream.name}" (${upstream.protocol}) makes no stream of partial images: send the request without stream, or map the model to an OpenAI upstream.`,
      { param: "stream" },
    );
  if (!edit || upstream.protocol === "echo") return undefined;
  if (usesPredict(target.model))
    return new GatewayError(
      400,
      `Model "${request.model}" maps to ${target.model} on upstream "${upstream.name}": Imagen on the Gemini API makes images but does not edit them. Map edits to a Gemini image model (such as gemini-2.5-flash-image) or an OpenAI upstream.`,
      { param: "model" },
    );
  if (edit.mask)
    return new GatewayError(
      400,
      `Upstream "${upstream.name}" (Gemini) takes no mask: send the image without one and say in the prompt what to change.`,
      { param: "mask" },
    );
  return undefined;
}

async function post(
  ctx: RequestContext,
  services: GatewayServices,
  upstream: Upstream,
  lease: Lease,
  url: string,
  { body, contentType, length }: ForwardBody,
  stream = false,
): Promise<{ response: Response; text: string } | Failure> {
  const headers = upstreamRequestHeaders(
    upstream.protocol,
    lease.account.key,
    ctx.request.headers,
    upstream.protocol === "openai",
  );
  headers["content-type"] = contentType;
  if (length !== undefined) headers["content-length"] = String(length);
  try {
    const response = await services.upstreamClient.call({
      upstream,
      url,
      body,
      headers,
      clientSignal: ctx.request.signal,
      timeouts: upstream.timeouts,
      stream,
    });
    // A stream that began is the client's as it comes; everything else is read whole.
    return { response, text: stream && response.ok ? "" : await response.text() };
  } catch (error) {
    return failureOf(error, upstream.name);
  }
}

async function forwardToOpenAI(
  ctx: RequestContext,
  services: GatewayServices,
  call: ImageCall,
  target: Target,
  upstream: Upstream,
  lease: Lease,
): Promise<AttemptResult> {
  const answered = await post(
    ctx,
    services,
    upstream,
    lease,
    upstream.baseUrl + call.openaiPath,
    call.forwardBody(target.model),
    call.request.stream,
  );
  if (!("response" in answered)) return { kind: "failed", failure: answered };
  const { response, text } = answered;
  if (!response.ok)
    return {
      kind: "failed",
      failure: failureFromAnswer(
        UPSTREAM_CODECS["openai-chat"],
        response.status,
        response.headers,
        text,
      ),
    };
  lease.finish({ ok: true, usage: openAIUsage(text) });
  return {
    kind: "committed",
    response: new Response(call.request.stream ? response.body : text, {
      status: response.status,
      headers: clientResponseHeaders(response.headers),
    }),
  };
}

/** The token usage a GPT image model reports (dall-e reports none), for the request log. */
function openAIUsage(text: string): { input: number; output: number } | undefined {
  try {
    const usage = (
      JSON.parse(text) as { usage?: { input_tokens?: unknown; output_tokens?: unknown } }
    ).usage;
    if (typeof usage?.input_tokens === "number" && typeof usage.output_tokens === "number")
      return { input: usage.input_tokens, output: usage.output_tokens };
  } catch {
    // An answer that is not JSON is the client's to read; it has no usage to log.
  }
  return undefined;
}

/**
 * Imagen makes up to four images in one :predict; a Gemini image model makes one per call, so n
 * images are n calls on the same account, side by side. Usage is their sum.
 */
async function generateOnGemini(
  ctx: RequestContext,
  services: GatewayServices,
  call: ImageCall,
  target: Target,
  upstream: Upstream,
  lease: Lease,
): Promise<AttemptResult> {
  const { request } = call;
  const predict = usesPredict(target.model);
  const url = upstream.baseUrl + geminiImagePath(target.model, upstream.apiVersion);
  // Imagen makes up to 4 a call, each call asked only for its share: never more images (billed) than n.
  const bodies = predict
    ? imagenSampleCounts(request.n).map((count) =>
        JSON.stringify(imagenBody(request, target.model, count)),
      )
    : Array.from({ length: request.n }, () =>
        JSON.stringify(geminiImageBody(request, target.model, call.edit?.images())),
      );
  const answers = await Promise.all(
    bodies.map((body) =>
      post(ctx, services, upstream, lease, url, { body, contentType: "application/json" }),
    ),
  );
  const result: ImageResult = { images: [], usage: predict ? undefined : { input: 0, output: 0 } };
  for (const answered of answers) {
    if (!("response" in answered)) return { kind: "failed", failure: answered };
    const { response, text } = answered;
    if (!response.ok)
      return {
        kind: "failed",
        failure: failureFromAnswer(UPSTREAM_CODECS.gemini, response.status, response.headers, text),
      };
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const read = predict ? imagesOfImagen(json) : imagesOfGemini(json);
    if ("kind" in read) return { kind: "failed", failure: read };
    result.images.push(...read.images);
    if (result.usage && read.usage) {
      result.usage.input += read.usage.input;
      result.usage.output += read.usage.output;
    }
  }
  result.images.splice(request.n);
  lease.finish({ ok: true, usage: result.usage });
  const rendered = renderOpenAIImages(result, request.responseFormat, unixNow());
  return {
    kind: "committed",
    response: new Response(JSON.stringify(rendered), {
      status: 200,
      headers: { "content-type": "application/json" },
    }),
  };
}
