import { createHash, type KeyObject } from "node:crypto";
import { RegauthError } from "@regauth/core";
import type { JWK } from "jose";
import { base32 } from "./internal/base32.js";
import { publicKeyOf, spkiDer } from "./internal/keys.js";

/**
 * Computes the libtrust key ID of a public key: the `kid` registry 2.x
 * (distribution's registry/auth/token, via docker/libtrust) expects in a
 * token header and derives for every public key of its `rootcertbundle`
 * (protocol.md §3).
 *
 * The ID is the SHA-256 of the key's DER SubjectPublicKeyInfo, truncated to
 * its first 30 bytes, encoded as RFC 4648 base32 (`A-Z2-7`, no padding: 48
 * characters), written as 12 groups of 4 joined by `:`.
 *
 * @param publicKey A `KeyObject` (public, or private: its public half is
 *   used) or a JWK (private members ignored).
 * @returns The key ID, for instance `PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6`.
 * @throws RegauthError `ERR_CONFIG_INVALID` (`publicKey: ...`) when the input
 *   is not an asymmetric key.
 *
 * @example
 * const { publicKeyPem } = await generateSigningKey();
 * libtrustKeyId(createPublicKey(publicKeyPem)); // "ABCD:EFGH:...", 59 characters
 */
export function libtrustKeyId(publicKey: KeyObject | JWK): string {
  let key: KeyObject;
  try {
    key = publicKeyOf(publicKey);
  } catch (error) {
    throw new RegauthError("ERR_CONFIG_INVALID", `publicKey: ${(error as Error).message}`);
  }
  const digest = createHash("sha256").update(spkiDer(key)).digest().subarray(0, 30);
  return (base32(digest).match(/.{4}/g) ?? []).join(":");
}
