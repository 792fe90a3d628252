import { type KeyObject, X509Certificate } from "node:crypto";
import type { JWK } from "jose";
import { libtrustKeyId } from "../libtrust-key-id.js";
import { thumbprintKeyId } from "../thumbprint-key-id.js";
import { checkCertificateChain } from "./certificates.js";
import { publicKeyOf, sameKey } from "./keys.js";
import { tokenInvalid } from "./token-invalid.js";

/**
 * What a verifier trusts: root certificates for `x5c` chains, and public keys
 * (the roots' keys and any JWKS keys) for `kid` and `jwk` references.
 */
export interface Trust {
  readonly roots: readonly X509Certificate[];
  readonly keys: readonly KeyObject[];
  /** Key IDs to keys: libtrust IDs, RFC 7638 thumbprints and explicit JWKS `kid`s. */
  readonly keysById: ReadonlyMap<string, KeyObject>;
}

/**
 * Which registry's key lookup a {@link Trust} reproduces:
 *
 * - `"any"`: the union, what `verifyRegistryToken` accepts: root keys by
 *   libtrust ID and thumbprint, JWKS keys by `kid`, libtrust ID and thumbprint.
 * - `"2.8"`: registry 2.8: root keys by libtrust ID only; no JWKS.
 * - `"3.x"`: registry 3.1+: root keys by RFC 7638 thumbprint, JWKS keys by
 *   their `kid` member only.
 */
export type TrustProfile = "any" | "2.8" | "3.x";

/** Indexes trusted keys by the IDs the chosen registry would look them up by. */
export function buildTrust(
  roots: readonly X509Certificate[],
  jwks: readonly { readonly key: KeyObject; readonly kid: string | undefined }[],
  profile: TrustProfile = "any",
): Trust {
  const keys: KeyObject[] = [];
  const keysById = new Map<string, KeyObject>();
  const add = (key: KeyObject, ids: readonly (string | undefined)[]) => {
    keys.push(key);
    for (const id of ids) {
      if (id !== undefined && !keysById.has(id)) keysById.set(id, key);
    }
  };
  if (profile !== "2.8") {
    for (const { key, kid } of jwks) {
      add(key, profile === "3.x" ? [kid] : [kid, libtrustKeyId(key), thumbprintKeyId(key)]);
    }
  }
  for (const root of roots) {
    const key = root.publicKey;
    if (profile === "2.8") add(key, [libtrustKeyId(key)]);
    else if (profile === "3.x") add(key, [thumbprintKeyId(key)]);
    else add(key, [libtrustKeyId(key), thumbprintKeyId(key)]);
  }
  return { roots, keys, keysById };
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function readChain(value: unknown, where: string): X509Certificate[] | undefined {
  if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
    throw tokenInvalid(`malformed header: ${where} is not an array of strings`);
  }
  if (value.length === 0) return undefined;
  return (value as string[]).map((text) => {
    if (!BASE64.test(text)) throw tokenInvalid(`malformed header: ${where} entry is not base64`);
    try {
      return new X509Certificate(Buffer.from(text, "base64"));
    } catch {
      throw tokenInvalid(`malformed header: ${where} entry is not a certificate`);
    }
  });
}

function verifyChain(chain: readonly X509Certificate[], trust: Trust, now: number): KeyObject {
  const [leaf, ...intermediates] = chain;
  if (leaf === undefined) throw tokenInvalid("empty x5c certificate chain");
  if (trust.roots.length === 0) {
    throw tokenInvalid("x5c chain cannot be checked: no rootCertificates configured");
  }
  const problem = checkCertificateChain(leaf, intermediates, trust.roots, now);
  if (problem !== undefined) throw tokenInvalid(problem);
  return leaf.publicKey;
}

/**
 * Finds the key a token claims to be signed with, in the order of
 * distribution's `VerifySigningKey`: `x5c` (chain to a root), then `jwk` (a
 * trusted key, or one with its own `x5c` chain to a root), then `kid` (a
 * trusted key by libtrust ID, thumbprint or JWKS `kid`).
 *
 * @param now Milliseconds since the epoch, for certificate validity.
 * @throws RegauthError `ERR_TOKEN_INVALID` when there is no reference or it
 *   leads to no trusted key.
 */
export function resolveSigningKey(
  header: Readonly<Record<string, unknown>>,
  trust: Trust,
  now: number,
): KeyObject {
  if (header.x5c !== undefined) {
    const chain = readChain(header.x5c, "x5c");
    if (chain !== undefined) return verifyChain(chain, trust, now);
  }
  if (header.jwk !== undefined) {
    const jwk = header.jwk;
    if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) {
      throw tokenInvalid("malformed header: jwk is not an object");
    }
    let key: KeyObject;
    try {
      key = publicKeyOf(jwk as JWK);
    } catch {
      throw tokenInvalid("malformed header: jwk is not a usable public key");
    }
    const embedded = (jwk as Record<string, unknown>).x5c;
    const chain = embedded === undefined ? undefined : readChain(embedded, "jwk.x5c");
    if (chain !== undefined) {
      const leafKey = verifyChain(chain, trust, now);
      if (!sameKey(leafKey, key)) throw tokenInvalid("jwk does not match its x5c leaf certificate");
      return key;
    }
    if (!trust.keys.some((trusted) => sameKey(trusted, key))) {
      throw tokenInvalid("jwk is not a trusted key and has no x5c chain");
    }
    return key;
  }
  if (header.kid !== undefined) {
    if (typeof header.kid !== "string") throw tokenInvalid("malformed header: kid is not a string");
    const key = trust.keysById.get(header.kid);
    if (key === undefined) throw tokenInvalid("signed by an untrusted key (unknown kid)");
    return key;
  }
  throw tokenInvalid("no key reference in the header, expected x5c, jwk or kid");
}
