import type { StreamEvent } from "../ir.ts";

/*
 * A client's stream, rendered as its events arrive: each IR event goes in, and the text the
 * client's dialect makes of it is written at once. A translated stream (pipeline/translate.ts)
 * writes every event of an upstream chunk into one buffer and sends the client one chunk for it,
 * with no async generator, iterator result or promise between the parser and the client.
 */

/** Takes the text a renderer makes, in order. */
export type Write = (text: string) => void;

export interface StreamRenderer {
  /**
   * Renders one event, writing its text. True once the client's stream is complete (its finish
   * or its error is written): nothing more is written after that.
   */
  event(event: StreamEvent): boolean;
}
