/**
 * One resource scope of a token request, as in distribution's token spec
 * (docs/spec/auth/scope.md): `type[(class)]:name:action[,action...]`.
 *
 * - `type`: the resource type, `repository` or `registry`.
 * - `class`: the resource class written in parentheses after the type
 *   (`repository(plugin)` gives `type: "repository", class: "plugin"`); absent when none.
 * - `name`: the resource name, which may begin with `host[:port]/`.
 * - `actions`: the actions in the order first seen, without duplicates
 *   (`pull`, `push`, `delete`, `*`; unknown actions are carried through).
 */
export interface Scope {
  readonly type: string;
  readonly class?: string;
  readonly name: string;
  readonly actions: readonly string[];
}

/**
 * The bounds regauth puts on scopes. A request over either bound is answered
 * with 400 `ERR_SCOPE_LIMIT`.
 *
 * - `maxScopes`: the most distinct scopes in one request, after splitting every
 *   value on spaces and merging duplicates. Default {@link DEFAULT_MAX_SCOPES}.
 * - `maxScopeLength`: the longest single scope string, in characters.
 *   Default {@link DEFAULT_MAX_SCOPE_LENGTH}.
 */
export interface ScopeLimits {
  readonly maxScopes?: number;
  readonly maxScopeLength?: number;
}

/**
 * Default for {@link ScopeLimits.maxScopes}: 64 scopes per request. Real
 * clients send one or two (a cross-repository mount asks for two); buildkit and
 * oras send a handful.
 */
export const DEFAULT_MAX_SCOPES = 64;

/**
 * Default for {@link ScopeLimits.maxScopeLength}: 512 characters per scope. A
 * repository name is at most 255 characters (distribution's reference grammar),
 * so this leaves room for the type, class, host prefix and actions.
 */
export const DEFAULT_MAX_SCOPE_LENGTH = 512;
