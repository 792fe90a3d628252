import { createHash, type JsonWebKey, type KeyObject } from "node:crypto";
import { RegauthError } from "@regauth/core";
import type { JWK } from "jose";
import { publicKeyOf } from "./internal/keys.js";

/** The members RFC 7638 §3.2 hashes for each key type, in lexicographic order. */
const REQUIRED_MEMBERS: ReadonlyMap<string, readonly string[]> = new Map([
  ["EC", ["crv", "kty", "x", "y"]],
  ["RSA", ["e", "kty", "n"]],
  ["OKP", ["crv", "kty", "x"]],
]);

/**
 * Computes the RFC 7638 JWK thumbprint of a public key (base64url of the
 * SHA-256 of the canonical JWK): the `kid` registry 3.1+ looks up (protocol.md
 * §3). Two different keys always give two different IDs (docker_auth and
 * distribution 3.0.0 once hashed the curve's generator instead of the key,
 * giving every P-256 key the same thumbprint).
 *
 * The key is read first and its canonical members re-exported, so the result
 * matches what the registry computes from the parsed key.
 *
 * @param publicKey A `KeyObject` (public, or private: its public half is
 *   used) or a JWK (private members ignored).
 * @returns 43 base64url characters.
 * @throws RegauthError `ERR_CONFIG_INVALID` (`publicKey: ...`) when the input
 *   is not an asymmetric key.
 *
 * @example
 * const { publicKeyPem } = await generateSigningKey();
 * thumbprintKeyId(createPublicKey(publicKeyPem)); // 43 base64url characters
 */
export function thumbprintKeyId(publicKey: KeyObject | JWK): string {
  let jwk: JsonWebKey;
  try {
    jwk = publicKeyOf(publicKey).export({ format: "jwk" });
  } catch (error) {
    throw new RegauthError("ERR_CONFIG_INVALID", `publicKey: ${(error as Error).message}`);
  }
  const members = REQUIRED_MEMBERS.get(jwk.kty ?? "");
  if (members === undefined) {
    throw new RegauthError(
      "ERR_CONFIG_INVALID",
      `publicKey: ${jwk.kty ?? "unknown"} keys have no RFC 7638 thumbprint here, expected EC, RSA or OKP`,
    );
  }
  const source = jwk as Record<string, unknown>;
  const canonical = `{${members.map((name) => `${JSON.stringify(name)}:${JSON.stringify(source[name])}`).join(",")}}`;
  return createHash("sha256").update(canonical).digest("base64url");
}
