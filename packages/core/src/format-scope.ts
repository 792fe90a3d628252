import type { Scope } from "./scope.js";

/**
 * Formats a scope back to its string form, `type[(class)]:name:action[,action...]`
 * (distribution docs/spec/auth/scope.md). The inverse of {@link parseScope} for
 * every scope it returns.
 *
 * @example
 * formatScope({ type: "registry", name: "catalog", actions: ["*"] }) // "registry:catalog:*"
 */
export function formatScope(scope: Scope): string {
  const type = scope.class === undefined ? scope.type : `${scope.type}(${scope.class})`;
  return `${type}:${scope.name}:${scope.actions.join(",")}`;
}

/**
 * Formats several scopes as one space-separated value, the form the registry's
 * challenge and the OAuth2 `scope` field use.
 */
export function formatScopes(scopes: Iterable<Scope>): string {
  return Array.from(scopes, formatScope).join(" ");
}
