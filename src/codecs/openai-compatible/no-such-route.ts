/**
 * Whether an error answer to a forwarded Responses or Completions request means the upstream has
 * no such route (so the request can go through chat instead), rather than no such model. A 405 is
 * always about the route; a 404 is, unless it talks about a model.
 */
export function meansNoSuchRoute(status: number, body: string): boolean {
  if (status === 405) return true;
  if (status !== 404) return false;
  return !/model|deployment/i.test(body);
}
