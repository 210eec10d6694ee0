/** Reads an OpenAI SDK chat stream to its end: the text it delivered, and the error that ended it, if one did. */
export async function readChatStream(
  stream: AsyncIterable<{ choices: { delta: { content?: string | null } }[] }>,
): Promise<{ text: string; error: any }> {
  let text = "";
  try {
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    return { text, error: undefined };
  } catch (error) {
    return { text, error };
  }
}
