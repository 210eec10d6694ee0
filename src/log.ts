export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

type Write = (line: string) => void;

/** One line per event, to stderr, with an ISO time and a level. Never pass a key or token in a message. */
export function createLogger(write: Write = (line) => process.stderr.write(line)): Logger {
  const emit = (level: string) => (message: string) =>
    write(`${new Date().toISOString()} ${level} ${oneLine(message)}\n`);
  return { info: emit("INFO"), warn: emit("WARN"), error: emit("ERROR") };
}

/**
 * A message as one line: messages carry upstreams' and clients' words, and a line break (or any
 * other control character) in them could forge a log line of levity's own. Escaped, not dropped,
 * so a stack trace stays readable.
 */
export function oneLine(message: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  return message.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/g, (ch) =>
    ch === "\n"
      ? "\\n"
      : ch === "\r"
        ? "\\r"
        : `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

export const silentLogger: Readonly<Logger> = { info() {}, warn() {}, error() {} };
