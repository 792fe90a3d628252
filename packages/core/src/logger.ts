/**
 * The logger regauth writes to: the shape of pino's and bunyan's loggers
 * (`logger.info({ fields }, "message")`), so either can be passed as is.
 * regauth never puts a password, token or key in a field or message.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** A logger that drops everything: the default. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
