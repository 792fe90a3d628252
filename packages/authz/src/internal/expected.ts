/** What a config value is, for messages: its type, never its content. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return "a string";
    case "object":
      return "an object";
    case "number":
      return "a number";
    case "boolean":
      return "a boolean";
    default:
      return typeof value;
  }
}

/**
 * A zod error option for type mismatches: `expected a string, got a number`,
 * or `required, expected ...` when the value is missing. Other issues keep
 * their own message.
 */
export function expected(what: string) {
  return (issue: { readonly code?: string; readonly input?: unknown }): string | undefined => {
    if (issue.code !== "invalid_type") return undefined;
    return issue.input === undefined
      ? `required, expected ${what}`
      : `expected ${what}, got ${describe(issue.input)}`;
  };
}
