/** Secrets shorter than this withhold the whole text rather than being replaced. */
const MIN_REPLACEABLE = 8;

/**
 * A loggable copy of an error (name, code, message, stack, and its causes,
 * three deep) with every occurrence of each secret replaced by `[redacted]`
 * (a text holding a secret shorter than 8 characters is withheld whole).
 * Backends are free to put anything in their messages, a password among them;
 * what regauth logs never carries one.
 */
export function describeError(error: unknown, secrets: readonly string[], depth = 0): unknown {
  const scrub = (text: string) =>
    secrets.reduce((out, secret) => {
      if (secret === "" || !out.includes(secret)) return out;
      // A short secret is found inside ordinary words; replacing each
      // occurrence would garble the text and, by the gaps it leaves, spell the
      // secret out. Withhold the whole text instead.
      if (secret.length < MIN_REPLACEABLE) return "[withheld: the text contains a secret]";
      return out.split(secret).join("[redacted]");
    }, text);
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
