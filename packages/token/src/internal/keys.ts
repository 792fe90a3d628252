import { createPrivateKey, createPublicKey, type JsonWebKey, KeyObject } from "node:crypto";
import type { JWK } from "jose";
import type { SigningAlgorithm } from "../model.js";

/** Smallest RSA modulus accepted, in bits (RFC 7518 §3.3). */
export const MIN_RSA_BITS = 2048;

const EC_ALGORITHMS: ReadonlyMap<string, SigningAlgorithm> = new Map([
  ["prime256v1", "ES256"],
  ["secp384r1", "ES384"],
  ["secp521r1", "ES512"],
]);

/** What a key signs with, or why registry tokens cannot be signed with it. */
export type KeyAlgorithm =
  | { readonly ok: true; readonly algorithm: SigningAlgorithm }
  | { readonly ok: false; readonly problem: string };

/**
 * The default JWS algorithm for an asymmetric key: ES256/384/512 by curve, RS256
 * for RSA of at least {@link MIN_RSA_BITS} bits. Anything else (Ed25519,
 * RSA-PSS, other curves, small RSA) gets a `problem` that names the key type
 * and never its material.
 */
export function keyAlgorithm(key: KeyObject): KeyAlgorithm {
  const type = key.asymmetricKeyType;
  if (type === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? "unknown";
    const algorithm = EC_ALGORITHMS.get(curve);
    return algorithm === undefined
      ? { ok: false, problem: `EC curve ${curve} is not supported, expected P-256, P-384 or P-521` }
      : { ok: true, algorithm };
  }
  if (type === "rsa") {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    return bits < MIN_RSA_BITS
      ? {
          ok: false,
          problem: `RSA key of ${bits} bits is too small, at least ${MIN_RSA_BITS} expected`,
        }
      : { ok: true, algorithm: "RS256" };
  }
  return {
    ok: false,
    problem: `${type ?? "unknown"} keys are not supported, expected EC (P-256, P-384, P-521) or RSA`,
  };
}

/** Private JWK members, dropped before a JWK is read as a public key. */
const PRIVATE_JWK_MEMBERS = new Set(["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"]);

/** True when a JWK carries private (or secret) key material. */
export function hasPrivateMembers(jwk: object): boolean {
  return Object.keys(jwk).some((name) => PRIVATE_JWK_MEMBERS.has(name));
}

/**
 * The public half of a KeyObject (public or private) or of a JWK (private
 * members are ignored).
 *
 * @throws Error with a message fit for a config error (no key material) when
 *   the input is not an asymmetric key.
 */
export function publicKeyOf(input: KeyObject | JWK): KeyObject {
  if (input instanceof KeyObject) {
    if (input.type === "public") return input;
    if (input.type === "private") return createPublicKey(input);
    throw new Error("a secret key was given, expected an asymmetric key");
  }
  if (typeof input !== "object" || input === null || typeof input.kty !== "string") {
    throw new Error("expected a KeyObject or a JWK");
  }
  const members: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(input)) {
    if (!PRIVATE_JWK_MEMBERS.has(name)) members[name] = value;
  }
  try {
    return createPublicKey({ key: members as JsonWebKey, format: "jwk" });
  } catch {
    throw new Error(`not a usable ${input.kty} public JWK`);
  }
}

/** The DER SubjectPublicKeyInfo of a public key. */
export function spkiDer(key: KeyObject): Buffer {
  return key.export({ type: "spki", format: "der" });
}

/** True when two public keys are the same key. */
export function sameKey(a: KeyObject, b: KeyObject): boolean {
  return spkiDer(a).equals(spkiDer(b));
}

const ENCRYPTED = "encrypted private keys are not supported, decrypt the key first";

/** Whether a PEM text holds a block with this label. */
function hasPemBlock(pem: string, label: RegExp): boolean {
  const labels = pem.match(/-----BEGIN ([A-Z0-9 ]+)-----/g) ?? [];
  return labels.some((line) => label.test(line));
}

/**
 * Reads a private key given as PEM (PKCS#8 `PRIVATE KEY`, SEC1 `EC PRIVATE
 * KEY`, PKCS#1 `RSA PRIVATE KEY`) or as a KeyObject.
 *
 * @returns The key, or a lower-case problem that never quotes key material.
 */
export function readPrivateKey(input: string | KeyObject): KeyObject | string {
  if (input instanceof KeyObject) {
    if (input.type === "private") return input;
    return input.type === "public"
      ? "a public key was given, expected a private key"
      : "a secret key was given, expected an EC or RSA private key";
  }
  if (!hasPemBlock(input, /PRIVATE KEY/)) {
    if (hasPemBlock(input, /PUBLIC KEY/)) return "a public key was given, expected a private key";
    if (hasPemBlock(input, /CERTIFICATE/)) return "a certificate was given, expected a private key";
    return "expected a PEM private key (PKCS#8, SEC1 or PKCS#1)";
  }
  if (hasPemBlock(input, /ENCRYPTED/) || input.includes("Proc-Type: 4,ENCRYPTED")) {
    return ENCRYPTED;
  }
  try {
    return createPrivateKey({ key: input, format: "pem" });
  } catch (error) {
    return (error as { code?: unknown }).code === "ERR_MISSING_PASSPHRASE"
      ? ENCRYPTED
      : "not a readable PEM private key (PKCS#8, SEC1 or PKCS#1)";
  }
}
