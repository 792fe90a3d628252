import { type Authenticator, type Labels, parseOptions } from "@regauth/core";
import { z } from "zod";
import {
  BCRYPT_HASH,
  type BcryptUser,
  createBcryptCheck,
  lookupBcryptUser,
} from "./internal/bcrypt-users.js";

/**
 * One entry of the static users table (docker_auth's `users:` section).
 *
 * - `password`: a bcrypt hash (`$2a$`, `$2b$` or `$2y$`, as `htpasswd -B` or
 *   `hashPassword` writes). Required for every account except `""`.
 * - `labels`: labels handed to the authorizers, such as `{ groups: ["qa"] }`. Default `{}`.
 */
export interface StaticUser {
  readonly password?: string;
  readonly labels?: Record<string, readonly string[]>;
}

/**
 * Options of {@link createStaticAuthenticator}.
 *
 * - `users`: account name to {@link StaticUser}. The entry for the empty account
 *   `""` (no password) lets anonymous requests in, with its labels.
 * - `name`: for logs. Default `"static"`.
 */
export interface StaticAuthenticatorOptions {
  readonly users: Readonly<Record<string, StaticUser>>;
  readonly name?: string;
}

const labelsSchema = z.record(z.string(), z.array(z.string()));
const optionsSchema = z.strictObject({
  users: z
    .record(
      z.string(),
      z.strictObject({
        password: z
          .string()
          .regex(BCRYPT_HASH, "expected a bcrypt hash ($2a$, $2b$ or $2y$)")
          .optional(),
        labels: labelsSchema.default({}),
      }),
    )
    .superRefine((users, context) => {
      for (const [account, user] of Object.entries(users)) {
        if (account === "" && user.password !== undefined) {
          context.addIssue({
            code: "custom",
            path: [account, "password"],
            message: "the anonymous entry takes no password",
          });
        }
        if (account !== "" && user.password === undefined) {
          context.addIssue({ code: "custom", path: [account, "password"], message: "required" });
        }
        if (account.includes(":")) {
          context.addIssue({
            code: "custom",
            path: [account],
            message: "an account name cannot contain ':' (Basic credentials end the user there)",
          });
        }
      }
    }),
  name: z.string().min(1).default("static"),
});

/**
 * Authenticates against a fixed table of users with bcrypt hashes, as
 * docker_auth's `users:` section (protocol.md §4).
 *
 * - known account, right password: allow, with its labels;
 * - known account, wrong password: deny (401, the chain stops);
 * - unknown account: no-match (the next authenticator is asked; 401 when none
 *   decides). It costs one bcrypt verification like a wrong password, so the
 *   two cannot be told apart by time;
 * - anonymous (account `""`): allow with the `""` entry's labels when there is
 *   one, else no-match.
 *
 * Only the first 72 bytes of a password count (bcrypt). Verification runs off
 * the event loop. `lookup` (a refresh token's account, without a password):
 * allow with the labels of a listed account, no-match for one no longer listed.
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` naming the field: a hash that is not
 *   bcrypt (`users.alice.password: expected a bcrypt hash ...`), an account
 *   other than `""` without a password (`users.bob.password: required`), a `""`
 *   entry with one (`users[""].password: ...`), an account name holding `:`
 *   (no Basic client can send it), unknown keys. The hash is never echoed.
 *
 * @example
 * const authenticator = createStaticAuthenticator({
 *   users: {
 *     admin: { password: await hashPassword("s3cret"), labels: { groups: ["admins"] } },
 *     "": {}, // anonymous requests allowed; the ACL decides what they get
 *   },
 * });
 */
export function createStaticAuthenticator(options: StaticAuthenticatorOptions): Authenticator {
  const config = parseOptions(optionsSchema, options);
  const users = new Map<string, BcryptUser>();
  let anonymous: Labels | undefined;
  for (const [account, user] of Object.entries(config.users)) {
    if (account === "") {
      anonymous = user.labels;
    } else if (user.password !== undefined) {
      // always so: the schema refuses an account other than "" without a password
      users.set(account, { hash: user.password, labels: user.labels });
    }
  }
  const check = createBcryptCheck(users);
  return {
    name: config.name,
    async authenticate(request) {
      if (request.account === "") {
        return anonymous === undefined
          ? { result: "no-match" }
          : { result: "allow", labels: anonymous };
      }
      return check(request);
    },
    lookup: lookupBcryptUser(users),
  };
}
