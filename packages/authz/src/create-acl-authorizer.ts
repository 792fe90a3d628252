import { type Authorizer, type AuthzRequest, parseOptions } from "@regauth/core";
import { z } from "zod";
import { type AclEntry, aclSchema } from "./acl-schema.js";
import { compileAcl } from "./internal/acl-engine.js";
import { expected } from "./internal/expected.js";

/**
 * Options of {@link createAclAuthorizer}.
 *
 * - `acl`: the entries, in order; see {@link AclEntry}. Required; `[]` is
 *   valid and matches nothing.
 * - `name`: how logs and `explain` name this authorizer. Default `"static-acl"`.
 */
export interface AclAuthorizerOptions {
  readonly acl: readonly AclEntry[];
  readonly name?: string | undefined;
}

/**
 * A label or capture placeholder and the value it had when the deciding entry
 * matched. `field` is where it was used under `match` (`name`,
 * `labels.groups`); `placeholder` is as written (`${labels:groups}`,
 * `${account:1}`). `${account}`, `${type}`, `${name}` and `${service}` are
 * not listed: their values are the request's.
 */
export interface AclPlaceholderValue {
  readonly field: string;
  readonly placeholder: string;
  readonly value: string;
}

/**
 * Which entry decided a request, and what it gives.
 *
 * - `entryIndex`: the position of the first matching entry in `acl` (0-based);
 *   `undefined` when none matched.
 * - `comment`: that entry's comment, if it has one.
 * - `allowed`: that entry's `actions` as written (`["*"]`, a list, or `[]` for
 *   an explicit deny); `undefined` when no entry matched, in which case the
 *   authorizer answers `no-match` and the next authorizer is asked.
 * - `granted`: what the token gets for this scope from this authorizer:
 *   the requested actions that `allowed` allows (`intersectActions` from
 *   `@regauth/core`), `[]` on a deny or no match.
 * - `placeholders`: label and capture values the entry matched with, in the
 *   order the fields were tested; `[]` when none or no match.
 */
export interface AclDecision {
  readonly entryIndex: number | undefined;
  readonly comment: string | undefined;
  readonly allowed: readonly string[] | undefined;
  readonly granted: string[];
  readonly placeholders: readonly AclPlaceholderValue[];
}

/**
 * The static ACL authorizer: an {@link Authorizer} that can also say why.
 *
 * - `authorize(request)`: `{ result: "grant", actions }` with the first
 *   matching entry's actions as written (the token handler intersects them
 *   with the requested actions), or `{ result: "no-match" }`.
 * - `explain(request)`: the same decision, synchronously, with the entry that
 *   made it; see {@link AclDecision}.
 */
export interface AclAuthorizer extends Authorizer {
  readonly name: string;
  explain(request: AuthzRequest): AclDecision;
}

const optionsSchema = z.strictObject(
  {
    acl: aclSchema,
    name: z
      .string({ error: expected("a string") })
      .min(1, { error: "expected a non-empty name" })
      .default("static-acl"),
  },
  { error: expected("an options object with acl") },
);

/**
 * Creates the static ACL authorizer, compatible with docker_auth's static ACL
 * (protocol.md §4): entries are tried in order and the first whose `match`
 * holds decides; `actions: ["*"]` allows everything requested, a list allows
 * those actions, `[]` is an explicit deny; when no entry matches the answer is
 * `no-match`, so the next authorizer of the chain is asked.
 *
 * Patterns (see {@link AclMatch}): `/.../` is an RE2 regular expression,
 * UNANCHORED as in docker_auth (`/admin/` matches `badminton`; write
 * `/^admin$/`); anything else is a glob whose `*` and `?` stop at `/`.
 * Regular expressions run on re2js, in time linear in the input: a crafted
 * account or repository name cannot stall the server.
 *
 * The ACL is validated and compiled once, here: regular expressions, globs,
 * placeholders, CIDR blocks, and an index on literal `account` and `name`
 * values, so a request against 10,000 per-user entries tests a few of them.
 * A request substitutes placeholder values and matches; regular expressions
 * that contain placeholders are compiled per distinct source and cached
 * (1024 per authorizer).
 *
 * @param options See {@link AclAuthorizerOptions}.
 * @throws RegauthError `ERR_CONFIG_INVALID` naming each bad field by its dotted
 *   path, such as `acl[3].match.nmae: unknown key` or
 *   `acl[2].match.name: invalid regular expression: missing closing )`.
 *   `authorize` and `explain` throw `ERR_INTERNAL` only if a regular
 *   expression with placeholders stops compiling once a request's values are
 *   in (for instance `{1,${name}}`), so the request fails instead of skipping
 *   a rule that may be a deny.
 *
 * @example
 * const authorizer = createAclAuthorizer({
 *   acl: [
 *     { match: { account: "admin" }, actions: ["*"], comment: "admin does everything" },
 *     { match: { name: "${labels:groups}/*" }, actions: ["pull", "push"] },
 *     { match: { account: "/^.+$/", type: "repository" }, actions: ["pull"] },
 *     { match: { account: "" }, actions: [], comment: "anonymous: nothing" },
 *   ],
 * });
 * authorizer.explain({
 *   account: "alice", service: "registry", clientIp: undefined,
 *   labels: { groups: ["qa"] },
 *   scope: { type: "repository", name: "qa/app", actions: ["pull", "push"] },
 * });
 * // { entryIndex: 1, allowed: ["pull", "push"], granted: ["pull", "push"],
 * //   placeholders: [{ field: "name", placeholder: "${labels:groups}", value: "qa" }], ... }
 */
export function createAclAuthorizer(options: AclAuthorizerOptions): AclAuthorizer {
  const config = parseOptions(optionsSchema, options);
  return compileAcl(config.acl, config.name);
}
