import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

/**
 * Authenticated encryption (AES-256-GCM) of small values kept outside the
 * process: the sign-in and session cookies, and the provider's refresh tokens
 * in the password store. The key is derived from the configured secret with
 * HKDF-SHA256 and a purpose label, so one secret yields independent keys.
 *
 * Sealed form: base64url(iv[12] || tag[16] || ciphertext).
 */
export interface Sealer {
  seal(plain: string): string;
  /** The plain text, or `undefined` when the value was forged, altered or sealed with another key. */
  open(sealed: string): string | undefined;
}

export function createSealer(secret: string, purpose: string): Sealer {
  const key = Buffer.from(hkdfSync("sha256", secret, "regauth-oidc", purpose, 32));
  // The purpose is also bound as additional data: a cookie cannot pass for a store value.
  const aad = Buffer.from(purpose, "utf8");
  return {
    seal(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      cipher.setAAD(aad);
      const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
      return Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64url");
    },
    open(sealed) {
      const raw = Buffer.from(sealed, "base64url");
      if (raw.length < 28) return undefined;
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, 12));
        decipher.setAAD(aad);
        decipher.setAuthTag(raw.subarray(12, 28));
        return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString(
          "utf8",
        );
      } catch {
        return undefined;
      }
    },
  };
}
