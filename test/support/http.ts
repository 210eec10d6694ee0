/** A response body parsed as JSON, for assertions that walk into it. */
export async function bodyOf(response: Response): Promise<any> {
  return response.json();
}
