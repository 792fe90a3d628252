import { RegauthError } from "./errors.js";
import {
  DEFAULT_MAX_SCOPE_LENGTH,
  DEFAULT_MAX_SCOPES,
  type Scope,
  type ScopeLimits,
} from "./scope.js";

/** Resource types this library knows; anything else is refused (400). */
const KNOWN_TYPES = new Set(["repository", "registry"]);
const TYPE_WITH_CLASS = /^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$/;
// distribution's reference grammar: an optional `host[:port]/` (host names, or a
// bracketed IPv6 literal) then lower-case path components joined by `/`.
const HOST_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const HOST = `(?:${HOST_COMPONENT}(?:\\.${HOST_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const NAME = new RegExp(`^(?:${HOST}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
/** distribution's limit on a repository name (NameTotalLengthMax). */
const MAX_NAME_LENGTH = 255;
const ACTION = /^(?:[a-z]+|\*)$/;

function invalid(text: string, why: string): RegauthError {
  return new RegauthError("ERR_SCOPE_INVALID", `invalid scope ${JSON.stringify(text)}: ${why}`);
}

/**
 * Parses one resource scope, `type[(class)]:name:action[,action...]`
 * (distribution docs/spec/auth/scope.md). The name may hold `host:port/`, so the
 * type ends at the first `:` and the actions start after the last one.
 *
 * Accepted types are `repository` and `registry` (with any class). Actions are
 * lower-case words or `*`; unknown words are kept as they are; a repeated action
 * is kept once. Tags are not part of a scope: `repository:app:latest:pull` has
 * the name `app:latest`, which is refused.
 *
 * @param text One scope, at most {@link DEFAULT_MAX_SCOPE_LENGTH} characters
 *   unless `limits.maxScopeLength` says otherwise.
 * @returns The scope.
 * @throws RegauthError `ERR_SCOPE_INVALID` for a string outside the grammar;
 *   `ERR_SCOPE_LIMIT` for one over the length bound.
 *
 * @example
 * parseScope("repository(plugin):localhost:5000/team/app:pull,push")
 * // { type: "repository", class: "plugin", name: "localhost:5000/team/app", actions: ["pull", "push"] }
 */
export function parseScope(text: string, limits?: ScopeLimits): Scope {
  const maxLength = limits?.maxScopeLength ?? DEFAULT_MAX_SCOPE_LENGTH;
  if (text.length > maxLength) {
    throw new RegauthError(
      "ERR_SCOPE_LIMIT",
      `scope too long: ${text.length} characters, at most ${maxLength} accepted`,
    );
  }
  const first = text.indexOf(":");
  const last = text.lastIndexOf(":");
  if (first < 0 || first === last) {
    throw invalid(text, "expected type:name:actions");
  }
  const typePart = text.slice(0, first);
  const name = text.slice(first + 1, last);
  const actionPart = text.slice(last + 1);

  const typeMatch = TYPE_WITH_CLASS.exec(typePart);
  if (!typeMatch) {
    throw invalid(text, `resource type ${JSON.stringify(typePart)} is not type or type(class)`);
  }
  const type = typeMatch[1] as string;
  const resourceClass = typeMatch[2];
  if (!KNOWN_TYPES.has(type)) {
    throw invalid(
      text,
      `unknown resource type ${JSON.stringify(type)}, expected repository or registry`,
    );
  }
  if (name === "") {
    throw invalid(text, "empty resource name");
  }
  if (name.length > MAX_NAME_LENGTH || !NAME.test(name)) {
    throw invalid(text, "resource name does not follow the reference grammar");
  }
  if (actionPart === "") {
    throw invalid(text, "no actions");
  }
  const actions: string[] = [];
  for (const action of actionPart.split(",")) {
    if (!ACTION.test(action)) {
      throw invalid(
        text,
        action === ""
          ? "empty action"
          : `action ${JSON.stringify(action)} is not a lower-case word or *`,
      );
    }
    if (!actions.includes(action)) actions.push(action);
  }
  return resourceClass === undefined
    ? { type, name, actions }
    : { type, class: resourceClass, name, actions };
}

/** True when two scopes name the same resource (type, class and name). */
function sameResource(a: Scope, b: Scope): boolean {
  return a.type === b.type && a.class === b.class && a.name === b.name;
}

/**
 * Parses every scope of a token request. Each value may hold several scopes
 * separated by spaces (buildkit, helm, oras and the registry's own challenge
 * join them; docker and skopeo repeat the `scope` parameter): both forms are
 * accepted together. Empty values (`scope=`, as `docker login` sends) add nothing.
 *
 * Scopes for the same resource (type, class, name) are merged into one entry
 * with the union of their actions, in first-seen order: a client asking for
 * `repository:app:push,pull` and `repository:app:pull` gets one entry.
 *
 * @param values The raw `scope` values, in request order.
 * @param limits Bounds; default 64 scopes of at most 512 characters each.
 * @returns The distinct scopes, in first-seen order; `[]` when none.
 * @throws RegauthError `ERR_SCOPE_INVALID` for a bad scope;
 *   `ERR_SCOPE_LIMIT` for too many or too long.
 *
 * @example
 * parseScopes(["repository:a:pull repository:b:pull", "repository:a:push"])
 * // [{ type: "repository", name: "a", actions: ["pull", "push"] },
 * //  { type: "repository", name: "b", actions: ["pull"] }]
 */
export function parseScopes(values: Iterable<string>, limits?: ScopeLimits): Scope[] {
  const maxScopes = limits?.maxScopes ?? DEFAULT_MAX_SCOPES;
  const scopes: Scope[] = [];
  for (const value of values) {
    for (const part of value.split(" ")) {
      if (part === "") continue;
      const scope = parseScope(part, limits);
      const index = scopes.findIndex((known) => sameResource(known, scope));
      if (index >= 0) {
        const known = scopes[index] as Scope;
        const actions = [...known.actions];
        for (const action of scope.actions) if (!actions.includes(action)) actions.push(action);
        scopes[index] = { ...known, actions };
        continue;
      }
      if (scopes.length >= maxScopes) {
        throw new RegauthError(
          "ERR_SCOPE_LIMIT",
          `too many scopes: more than ${maxScopes} in one request`,
        );
      }
      scopes.push(scope);
    }
  }
  return scopes;
}
