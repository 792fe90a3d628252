import { hash } from "@node-rs/bcrypt";
import { RegauthError } from "@regauth/core";

/** Default bcrypt cost of {@link hashPassword}: 10 (about 75-100 ms per verification on a 2-core machine). */
export const DEFAULT_BCRYPT_COST = 10;

/**
 * Hashes a password with bcrypt for the static users table or an htpasswd
 * file. Runs off the event loop. Only the first 72 bytes of a password count.
 *
 * @param password The password (UTF-8).
 * @param cost The bcrypt cost (log2 rounds), 4 to 31. Default {@link DEFAULT_BCRYPT_COST}.
 * @returns A `$2b$` hash.
 * @throws RegauthError `ERR_CONFIG_INVALID` for a cost outside 4-31 or an empty password.
 *
 * @example
 * const users = { admin: { password: await hashPassword("s3cret") } };
 */
export async function hashPassword(password: string, cost = DEFAULT_BCRYPT_COST): Promise<string> {
  if (!Number.isInteger(cost) || cost < 4 || cost > 31) {
    throw new RegauthError(
      "ERR_CONFIG_INVALID",
      `cost: expected an integer from 4 to 31, got ${cost}`,
    );
  }
  if (password === "") throw new RegauthError("ERR_CONFIG_INVALID", "password: must not be empty");
  return hash(password, cost);
}
