import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** Every registry password this module issues starts with this, so other authenticators' passwords are told apart without a lookup. */
export const PASSWORD_PREFIX = "rgo_";

/** A new registry password: the prefix and 32 random bytes (256 bits) in base64url. */
export function generatePassword(): string {
  return `${PASSWORD_PREFIX}${randomBytes(32).toString("base64url")}`;
}

/** A random public handle for a stored password (128 bits, base64url). */
export function generateId(): string {
  return randomBytes(16).toString("base64url");
}

/**
 * The stored form of a password: base64url SHA-256. A fast hash is enough
 * here: the password is 256 random bits, so there is no dictionary to try and
 * no brute force that a slow hash would make meaningfully slower; and it
 * keeps the check cheap enough to run on every registry token request.
 */
export function hashPassword(password: string): string {
  return createHash("sha256").update(password, "utf8").digest("base64url");
}

/** Compares two stored hashes in constant time (both are 43-character base64url SHA-256). */
export function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a, "utf8");
  const right = Buffer.from(b, "utf8");
  return left.length === right.length && timingSafeEqual(left, right);
}
