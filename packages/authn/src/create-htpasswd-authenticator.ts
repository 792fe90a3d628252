import { readFileSync } from "node:fs";
import { type Authenticator, parseOptions, RegauthError } from "@regauth/core";
import { z } from "zod";
import {
  BCRYPT_HASH,
  type BcryptUser,
  createBcryptCheck,
  lookupBcryptUser,
} from "./internal/bcrypt-users.js";

/**
 * Options of {@link createHtpasswdAuthenticator}.
 *
 * - `path`: the htpasswd file, read once, at construction.
 * - `name`: for logs. Default `"htpasswd"`.
 */
export interface HtpasswdAuthenticatorOptions {
  readonly path: string;
  readonly name?: string;
}

const optionsSchema = z.strictObject({
  path: z.string().min(1),
  name: z.string().min(1).default("htpasswd"),
});

/** What other htpasswd schemes look like, to name them in the error. */
function schemeOf(hash: string): string {
  if (hash.startsWith("$apr1$")) return "MD5 ($apr1$)";
  if (hash.startsWith("{SHA}")) return "SHA-1 ({SHA})";
  if (/^\$[15]\$|^\$6\$/.test(hash)) return "crypt (SHA/MD5)";
  if (/^\$2[a-z]\$/.test(hash)) return "malformed bcrypt";
  return "crypt or plain text";
}

/**
 * Authenticates against an htpasswd file of bcrypt lines, as `htpasswd -B`
 * writes them (`user:$2y$05$...`). Blank lines and lines starting with `#`
 * are skipped. Same answers as the static users: right password allow (no
 * labels), wrong password deny, unknown account no-match after the same bcrypt
 * work, anonymous no-match. `lookup` (a refresh token's account): allow for
 * an account in the file, no-match for one no longer in it.
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` when the file cannot be read, or
 *   naming the line of any entry that is not `user:bcrypt` (another scheme such
 *   as `$apr1$`, `{SHA}`, crypt or plain text is refused, never silently
 *   skipped), an empty user, or a user listed twice. The hash itself is never
 *   put in the message.
 *
 * @example
 * const authenticator = createHtpasswdAuthenticator({ path: "/etc/regauth/htpasswd" });
 */
export function createHtpasswdAuthenticator(options: HtpasswdAuthenticatorOptions): Authenticator {
  const config = parseOptions(optionsSchema, options);
  let text: string;
  try {
    text = readFileSync(config.path, "utf8");
  } catch (error) {
    throw new RegauthError("ERR_CONFIG_INVALID", `htpasswd ${config.path}: cannot be read`, {
      cause: error,
    });
  }
  const users = new Map<string, BcryptUser>();
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const where = `htpasswd ${config.path} line ${index + 1}`;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new RegauthError("ERR_CONFIG_INVALID", `${where}: expected user:hash`);
    const account = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (!BCRYPT_HASH.test(hash)) {
      throw new RegauthError(
        "ERR_CONFIG_INVALID",
        `${where}: user ${JSON.stringify(account)} has a ${schemeOf(hash)} hash; only bcrypt is accepted (htpasswd -B)`,
      );
    }
    if (users.has(account)) {
      throw new RegauthError(
        "ERR_CONFIG_INVALID",
        `${where}: user ${JSON.stringify(account)} is listed twice`,
      );
    }
    users.set(account, { hash, labels: {} });
  }
  const check = createBcryptCheck(users);
  return {
    name: config.name,
    async authenticate(request) {
      if (request.account === "") return { result: "no-match" };
      return check(request);
    },
    lookup: lookupBcryptUser(users),
  };
}
