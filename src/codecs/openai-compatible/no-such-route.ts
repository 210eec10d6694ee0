/**
 * Whether an error answer to a forwarded Responses or Completions request means the upstream has
 * no such route (so the request can go through chat instead), rather than that something the
 * request names was not found. A 405 is always about the route. A 404 is, unless it talks about a
 * model, or is an OpenAI-shaped error naming the request's own field or a missing thing: OpenAI
 * answers a `previous_response_id` it does not hold with a 404 (`param: "previous_response_id"`,
 * `code: "previous_response_not_found"`), and taking that for a missing route sent the upstream's
 * every later Responses request through chat until a reload.
 */
export function meansNoSuchRoute(status: number, body: string): boolean {
  if (status === 405) return true;
  if (status !== 404) return false;
  return !/model|deployment/i.test(body) && !namesWhatWasNotFound(body);
}

function namesWhatWasNotFound(body: string): boolean {
  let error: unknown;
  try {
    error = (JSON.parse(body) as { error?: unknown })?.error;
  } catch {
    return false;
  }
  if (!error || typeof error !== "object") return false;
  const { param, code } = error as { param?: unknown; code?: unknown };
  return (
    (typeof param === "string" && param !== "") ||
    (typeof code === "string" && code.endsWith("_not_found"))
  );
}
