/** A reference to an environment variable: `${NAME}`, NAME upper case. `$${NAME}` escapes it. */
const REFERENCE = /\$(\$?)\{([A-Z_][A-Z0-9_]*)\}/g;

/** A variable referenced but not set, and where. */
export interface MissingVariable {
  readonly path: readonly PropertyKey[];
  readonly name: string;
}

/**
 * Replaces `${NAME}` (NAME in upper case: letters, digits, `_`) in every
 * string of `value` with the environment variable NAME; `$${NAME}` stays as
 * the literal text `${NAME}`. Lower-case references such as `${account}`
 * (the ACL's and LDAP filter's placeholders) are never touched, and the
 * subtrees whose top-level key is in `skip` (the `acl`) are left as written.
 * Returns the new value and the variables that are not set.
 */
export function substituteEnv(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
  skip: ReadonlySet<string>,
): { value: unknown; missing: MissingVariable[] } {
  const missing: MissingVariable[] = [];
  const walk = (node: unknown, path: PropertyKey[]): unknown => {
    if (typeof node === "string") {
      return node.replace(REFERENCE, (whole, escaped: string, name: string) => {
        if (escaped === "$") return whole.slice(1);
        const found = env[name];
        if (found === undefined) {
          missing.push({ path, name });
          return whole;
        }
        return found;
      });
    }
    if (Array.isArray(node)) return node.map((item, index) => walk(item, [...path, index]));
    if (typeof node === "object" && node !== null) {
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(node)) {
        out[key] = path.length === 0 && skip.has(key) ? child : walk(child, [...path, key]);
      }
      return out;
    }
    return node;
  };
  return { value: walk(value, []), missing };
}
