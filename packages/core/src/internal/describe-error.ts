/**
 * A loggable copy of an error (name, code, message, stack, and its causes,
 * three deep) with every occurrence of each secret replaced by `[redacted]`.
 * Backends are free to put anything in their messages, a password among them;
 * what regauth logs never carries one.
 */
export function describeError(error: unknown, secrets: readonly string[], depth = 0): unknown {
  const scrub = (text: string) =>
    secrets.reduce(
      (out, secret) => (secret === "" ? out : out.split(secret).join("[redacted]")),
      text,
    );
  if (!(error instanceof Error)) return scrub(String(error));
  const described: Record<string, unknown> = {
    type: error.name,
    message: scrub(error.message),
  };
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" || typeof code === "number") described.code = code;
  if (error.stack) described.stack = scrub(error.stack);
  if (error.cause !== undefined && depth < 3) {
    described.cause = describeError(error.cause, secrets, depth + 1);
  }
  return described;
}
