import { generateKeyPair } from "node:crypto";
import { parseOptions } from "@regauth/core";
import { z } from "zod";

/** Algorithms {@link generateSigningKey} makes keys for. */
export type GeneratedKeyAlgorithm = "ES256" | "ES384" | "ES512" | "RS256";

/** RSA modulus of generated RS256 keys, in bits. */
export const GENERATED_RSA_BITS = 2048;

/**
 * Options of {@link generateSigningKey}.
 *
 * - `algorithm`: `"ES256"` (P-256, the default), `"ES384"` (P-384),
 *   `"ES512"` (P-521) or `"RS256"` (RSA, 2048 bits).
 */
export interface GenerateSigningKeyOptions {
  readonly algorithm?: GeneratedKeyAlgorithm;
}

/**
 * A new key pair as PEM text.
 *
 * - `algorithm`: the algorithm tokens signed with it will use.
 * - `privateKeyPem`: PKCS#8 `PRIVATE KEY`, unencrypted; keep it secret.
 * - `publicKeyPem`: SPKI `PUBLIC KEY`.
 */
export interface GeneratedSigningKey {
  readonly algorithm: GeneratedKeyAlgorithm;
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
}

const CURVES = { ES256: "P-256", ES384: "P-384", ES512: "P-521" } as const;

const optionsSchema = z.strictObject({
  algorithm: z.enum(["ES256", "ES384", "ES512", "RS256"]).default("ES256"),
});

/**
 * Generates a key pair for {@link createTokenIssuer} with node:crypto (off the
 * main thread). The registry still needs a certificate for the public key in
 * its `rootcertbundle`; making one is left to the caller (see the standalone
 * example).
 *
 * @param options `{ algorithm }`, default `"ES256"`.
 * @returns The PEM key pair.
 * @throws RegauthError `ERR_CONFIG_INVALID` (rejected promise) for an unknown
 *   `algorithm`.
 *
 * @example
 * const { privateKeyPem } = await generateSigningKey({ algorithm: "ES256" });
 * const issuer = createTokenIssuer({ issuer: "regauth", privateKey: privateKeyPem });
 */
export async function generateSigningKey(
  options: GenerateSigningKeyOptions = {},
): Promise<GeneratedSigningKey> {
  const { algorithm } = parseOptions(optionsSchema, options);
  const encoding = {
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  } as const;
  const pair = await new Promise<{ publicKey: string; privateKey: string }>((resolve, reject) => {
    const done = (error: Error | null, publicKey: string, privateKey: string) => {
      if (error) reject(error);
      else resolve({ publicKey, privateKey });
    };
    if (algorithm === "RS256") {
      generateKeyPair("rsa", { modulusLength: GENERATED_RSA_BITS, ...encoding }, done);
    } else {
      generateKeyPair("ec", { namedCurve: CURVES[algorithm], ...encoding }, done);
    }
  });
  return { algorithm, privateKeyPem: pair.privateKey, publicKeyPem: pair.publicKey };
}
