import type { z } from "zod";
import { configError } from "./internal/config-error.js";

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
 *   by its dotted path (`acl[3].match.nmae: unknown key`), never its value.
 */
export function parseOptions<S extends z.ZodType>(
  schema: S,
  input: unknown,
  path: readonly PropertyKey[] = [],
): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw configError(result.error, path);
  return result.data;
}
