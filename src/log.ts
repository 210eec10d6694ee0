export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

type Write = (line: string) => void;

/** One line per event, to stderr, with an ISO time and a level. Never pass a key or token in a message. */
export function createLogger(write: Write = (line) => process.stderr.write(line)): Logger {
  const emit = (level: string) => (message: string) => write(`${new Date().toISOString()} ${level} ${message}\n`);
  return { info: emit("INFO"), warn: emit("WARN"), error: emit("ERROR") };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
