import { z } from "zod";
import { compileEntryOnce } from "./internal/compile-entry.js";
import { expected } from "./internal/expected.js";

/**
 * The conditions of one ACL entry (protocol.md §4, docker_auth's `match`).
 * Every field is optional; an absent field matches anything, so `{}` matches
 * every request. All present fields must hold.
 *
 * - `account`: the authenticated account (`""` when anonymous).
 * - `type`: the scope's resource type: `repository` (also for
 *   `repository(plugin)`, whose class is not matched) or `registry`.
 * - `name`: the scope's resource name, such as `team/app` or `catalog`.
 * - `service`: the service the token is for.
 * - `ip`: the client address: one address (`10.1.2.3`, `2001:db8::1`) or a
 *   CIDR block (`10.0.0.0/8`, `2001:db8::/32`). IPv4 rules match IPv4-mapped
 *   IPv6 clients (`::ffff:10.1.2.3`). A request without a client address
 *   never matches an entry that has `ip`.
 * - `labels`: label name to pattern; for each, some value of that label must
 *   match; a missing label fails the entry.
 *
 * `account`, `type`, `name`, `service` and the `labels` values are patterns:
 * - `/.../` (at least one character between the slashes) is an RE2 regular
 *   expression, searched anywhere in the value like docker_auth's Go
 *   `regexp.MatchString`: `/^(dev|ops)$/` is the anchored form you usually want.
 * - anything else is a glob: `*` matches any run of characters except `/`,
 *   `?` one character except `/`, every other character (`[`, `\` included)
 *   is literal. Matching is case-sensitive.
 * - placeholders, replaced before matching and always matched literally:
 *   `${account}`, `${type}`, `${name}`, `${service}`; `${labels:KEY}`, every
 *   value of label KEY in turn (the field matches when one value works);
 *   `${FIELD:N}`, group N of the regular expression of FIELD in the same entry.
 */
export interface AclMatch {
  readonly account?: string | undefined;
  readonly type?: string | undefined;
  readonly name?: string | undefined;
  readonly service?: string | undefined;
  readonly ip?: string | undefined;
  readonly labels?: Readonly<Record<string, string>> | undefined;
}

/**
 * One ACL entry (docker_auth's static ACL entry). Entries are tried in order;
 * the first whose `match` holds decides.
 *
 * - `match`: the conditions, see {@link AclMatch}. Absent or `{}`: every request.
 * - `actions`: what the entry allows: `["*"]` everything requested, a list
 *   such as `["pull"]` those actions, `[]` an explicit deny (later entries and
 *   authorizers are not asked).
 * - `comment`: free text, shown by `explain`.
 */
export interface AclEntry {
  readonly match?: AclMatch | undefined;
  readonly actions: readonly string[];
  readonly comment?: string | undefined;
}

const pattern = z.string({ error: expected("a string") });

const matchSchema = z.strictObject(
  {
    account: pattern.optional(),
    type: pattern.optional(),
    name: pattern.optional(),
    service: pattern.optional(),
    ip: z.string({ error: expected("a string") }).optional(),
    labels: z
      .record(z.string(), pattern, { error: expected("a map of label names to patterns") })
      .optional(),
  },
  { error: expected("an object of match conditions") },
);

/**
 * The zod schema of one {@link AclEntry}, the element of {@link aclSchema}:
 * the same checks, for backends that validate entries one by one (the
 * MongoDB ACL, one document at a time). Paths in its errors are relative to
 * the entry (`match.nmae: unknown key`).
 */
export const aclEntrySchema: z.ZodType<AclEntry> = z
  .strictObject(
    {
      match: matchSchema.optional(),
      actions: z.array(
        z.string({ error: expected("a string") }).regex(/^(?:[a-z]+|\*)$/, {
          // "PULL" or "pull,push" could never equal a requested action.
          error: "expected an action name: a lower-case word such as pull, or *",
        }),
        { error: expected("an array of action names") },
      ),
      comment: z.string({ error: expected("a string") }).optional(),
    },
    { error: expected("an acl entry object with match and actions") },
  )
  .superRefine((entry, context) => {
    const result = compileEntryOnce(entry);
    if (!Array.isArray(result)) return;
    for (const problem of result) {
      context.addIssue({ code: "custom", path: [...problem.path], message: problem.message });
    }
  });

/**
 * The zod schema of an ACL: an array of {@link AclEntry}. Beyond shapes it
 * compiles every pattern, so it rejects what docker_auth would accept and then
 * misapply:
 *
 * - unknown keys in an entry or its `match` (docker_auth ignores them and the
 *   entry then matches everything): `acl[3].match.nmae: unknown key`;
 * - values that are not strings, `actions` that is not an array of non-empty strings;
 * - invalid RE2 syntax: `acl[2].match.name: invalid regular expression: missing closing )`;
 * - `ip` values that are neither an address nor a CIDR block;
 * - unknown or unclosed placeholders, and `${FIELD:N}` that names a field
 *   which is absent, not a regular expression, the field itself, or has fewer
 *   than N groups.
 *
 * Use it through `parseOptions(aclSchema, input, ["acl"])` from
 * `@regauth/core` to get `ERR_CONFIG_INVALID` errors naming dotted paths.
 * Messages name types, never the values.
 *
 * @example
 * const acl = parseOptions(aclSchema, yaml.parse(text).acl, ["acl"]);
 * const authorizer = createAclAuthorizer({ acl });
 */
export const aclSchema: z.ZodType<AclEntry[]> = z.array(aclEntrySchema, {
  error: expected("an array of acl entries"),
});
