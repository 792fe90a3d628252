import { z } from "zod";
import type { AccessEntry } from "../model.js";
import { parseScope } from "../parse-scope.js";
import type { RequiredAccess } from "../token-guard.js";

/** Where docker_auth serves its token endpoint; migrated registries keep these realms. */
export const DEFAULT_TOKEN_PATHS: readonly string[] = Object.freeze(["/auth", "/auth/token"]);

/** A path an adapter matches: starts with `/`, no query, no fragment. */
export const pathSchema = z
  .string()
  .regex(/^\/[^?#\s]*$/, "expected a path starting with / (no query, no spaces)");

/** `paths` of the adapters: a non-empty list of paths, or `"any"`. */
export const pathsSchema = z
  .union([z.literal("any"), z.array(pathSchema).min(1)])
  .default([...DEFAULT_TOKEN_PATHS]);

/**
 * Reads required access: scope strings are parsed (`ERR_SCOPE_INVALID` for a
 * bad one), entries are kept as they are.
 */
export function readRequiredAccess(access: RequiredAccess): AccessEntry[] {
  return access.map((item) => (typeof item === "string" ? parseScope(item) : item));
}

const accessEntrySchema = z.looseObject({
  type: z.string().min(1),
  name: z.string().min(1),
  actions: z.array(z.string()),
});

/** `access` of `requireRegistryToken`: a list, or a function of the request. */
export const accessOptionSchema = z
  .union([
    z.array(z.union([z.string(), accessEntrySchema])),
    z.custom<(...args: never[]) => unknown>(
      (value) => typeof value === "function",
      "expected a list of scopes or a function",
    ),
  ])
  .default([]);

/** The option object of `requireRegistryToken`, shared by Express and Koa. */
export const requireOptionsSchema = z.strictObject({ access: accessOptionSchema });

/** The `TokenGuard` argument: anything with a `check` method. */
export function isGuard(value: unknown): boolean {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { check?: unknown }).check === "function"
  );
}
