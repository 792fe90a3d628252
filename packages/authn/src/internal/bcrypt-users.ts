import { verify } from "@node-rs/bcrypt";
import type { AuthnRequest, AuthnResult, Labels } from "@regauth/core";

/** A bcrypt hash as `htpasswd -B` and common libraries write it: `$2a$`, `$2b$` or `$2y$`, cost 04-31. */
export const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;

/** One known account: its bcrypt hash and labels. */
export interface BcryptUser {
  readonly hash: string;
  readonly labels: Labels;
}

/**
 * Checks accounts against bcrypt hashes, the part the static-users and
 * htpasswd authenticators share.
 *
 * - known account, right password: allow with its labels;
 * - known account, wrong password: deny;
 * - unknown account: no-match, after spending one bcrypt verification on a
 *   hash of the highest cost in use, so that an unknown account and a wrong
 *   password take the same time and nobody can list accounts by timing.
 *
 * bcrypt runs in @node-rs/bcrypt on libuv's thread pool, off the event loop.
 * Like every bcrypt, only the first 72 bytes of a password count.
 */
export function createBcryptCheck(
  users: ReadonlyMap<string, BcryptUser>,
): (request: AuthnRequest) => Promise<AuthnResult> {
  let decoy: string | undefined;
  for (const user of users.values()) {
    if (decoy === undefined || costOf(user.hash) > costOf(decoy)) decoy = user.hash;
  }
  return async ({ account, password }) => {
    const user = users.get(account);
    if (user === undefined) {
      // Same work as a wrong password: a verification that cannot succeed.
      if (decoy !== undefined) await verify(`${password}\u0000decoy`, decoy);
      return { result: "no-match" };
    }
    return (await verify(password, user.hash))
      ? { result: "allow", labels: user.labels }
      : { result: "deny" };
  };
}

function costOf(hash: string): number {
  return Number(hash.slice(4, 6));
}
