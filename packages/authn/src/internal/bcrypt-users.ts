import type { AccountLookup, AuthnRequest, AuthnResult, Labels } from "@regauth/core";
import { verifyPassword } from "./bcrypt-pool.js";

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
 * bcrypt (@node-rs/bcrypt) runs in a pool of worker threads at a lower
 * priority than the event loop (nice 10 on Linux; see `verifyPassword`), so
 * that under CPU contention the event loop (cached users, token signing) wins
 * and bcrypt takes the CPU left over. Like every bcrypt, only the first 72
 * bytes of a password count.
 */
export function createBcryptCheck(
  users: ReadonlyMap<string, BcryptUser>,
): (request: AuthnRequest) => Promise<AuthnResult> {
  let decoy: string | undefined;
  for (const user of users.values()) {
    if (decoy === undefined || bcryptCost(user.hash) > bcryptCost(decoy)) decoy = user.hash;
  }
  return ({ account, password }) => checkBcryptUser(users.get(account), password, decoy);
}

/**
 * The `lookup` of an authenticator over a table of accounts: allow with the
 * account's labels when it is listed, no-match when it is not (removed).
 */
export function lookupBcryptUser(
  users: ReadonlyMap<string, BcryptUser>,
): (request: AccountLookup) => Promise<AuthnResult> {
  return async ({ account }) => {
    const user = users.get(account);
    return user === undefined ? { result: "no-match" } : { result: "allow", labels: user.labels };
  };
}

/**
 * The check for one account whose record has been looked up (in a table or a
 * database): allow with its labels when `password` matches `user.hash`, deny
 * when it does not; no user (`undefined`): no-match after one verification
 * against `decoy` that cannot succeed, the same work as a wrong password.
 * Rejects when the bcrypt worker fails (see `verifyPassword`).
 */
export async function checkBcryptUser(
  user: BcryptUser | undefined,
  password: string,
  decoy: string | undefined,
): Promise<AuthnResult> {
  if (user === undefined) {
    await spendDecoy(password, decoy);
    return { result: "no-match" };
  }
  return (await verifyPassword(password, user.hash))
    ? { result: "allow", labels: user.labels }
    : { result: "deny" };
}

/**
 * One bcrypt verification against `decoy` that cannot succeed: time spent,
 * answer ignored. Rejects when the bcrypt worker fails (see `verifyPassword`).
 */
export async function spendDecoy(password: string, decoy: string | undefined): Promise<void> {
  if (decoy !== undefined) await verifyPassword(`${password}\u0000decoy`, decoy);
}

/** The cost (log2 rounds) of a hash matching {@link BCRYPT_HASH}. */
export function bcryptCost(hash: string): number {
  return Number(hash.slice(4, 6));
}
