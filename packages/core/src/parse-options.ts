import type { z } from "zod";
import { RegauthError } from "./errors.js";
import { configError, formatPath } from "./internal/config-error.js";

/** Keys that zod's records drop without a word: a match or table keyed so would silently lose an entry. */
const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** The path of the first own key in FORBIDDEN_KEYS in plain data (objects, arrays), if any. */
function forbiddenKeyPath(
  value: unknown,
  path: PropertyKey[],
  depth: number,
): PropertyKey[] | undefined {
  if (depth > 64 || typeof value !== "object" || value === null) return undefined;
  const proto = Object.getPrototypeOf(value);
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) return undefined;
  for (const key of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(key)) return [...path, key];
    const found = forbiddenKeyPath(
      (value as Record<string, unknown>)[key],
      [...path, Array.isArray(value) ? Number(key) : key],
      depth + 1,
    );
    if (found) return found;
  }
  return undefined;
}

/**
 * Validates a factory's options with a zod schema, once, at construction.
 * Used by every regauth `create*` factory, and available to authors of custom
 * authenticators and authorizers who want the same errors.
 *
 * @param schema The zod schema; its defaults fill the returned object.
 * @param input What the caller passed.
 * @param path Where the options sit in a larger config, prefixed to every
 *   reported path (for instance `["acl"]`).
 * @returns The parsed options, defaults applied.
 * @throws RegauthError `ERR_CONFIG_INVALID` whose message names each bad field
 *   by its dotted path (`acl[3].match.nmae: unknown key`), never its value. A
 *   key named `__proto__`, `constructor` or `prototype` anywhere in plain data
 *   is refused: zod's records would drop it silently, and a dropped match field
 *   matches everyone.
 */
export function parseOptions<S extends z.ZodType>(
  schema: S,
  input: unknown,
  path: readonly PropertyKey[] = [],
): z.output<S> {
  const forbidden = forbiddenKeyPath(input, [...path], 0);
  if (forbidden) {
    throw new RegauthError(
      "ERR_CONFIG_INVALID",
      `${formatPath(forbidden)}: reserved key not allowed`,
    );
  }
  const result = schema.safeParse(input);
  if (!result.success) throw configError(result.error, path);
  return result.data;
}
