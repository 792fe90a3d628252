import type { KeyObject, X509Certificate } from "node:crypto";
import type { AccessEntry } from "@regauth/core";
import { compactVerify, type JWK } from "jose";
import { z } from "zod";
import type { RegistryTokenClaims, SigningAlgorithm } from "../model.js";
import { findMissingAccess } from "./access.js";
import { readPemCertificates } from "./certificates.js";
import { readClaims } from "./claims.js";
import { hasPrivateMembers, keyAlgorithm, publicKeyOf } from "./keys.js";
import { tokenInvalid } from "./token-invalid.js";
import { buildTrust, resolveSigningKey, type Trust } from "./trust.js";

/** Algorithms `verifyRegistryToken` accepts: those registry 2.8 verifies. */
export const REGISTRY_TOKEN_ALGORITHMS: readonly SigningAlgorithm[] = Object.freeze([
  "ES256",
  "ES384",
  "ES512",
  "RS256",
  "RS384",
  "RS512",
]);

/** Default tolerance on `exp` and `nbf`, in seconds (the registry's leeway). */
export const DEFAULT_CLOCK_TOLERANCE = 60;

/** Longest token accepted, in characters. */
const MAX_TOKEN_LENGTH = 256 * 1024;

const accessSchema = z.strictObject({
  type: z.string().min(1),
  class: z.string().optional(),
  name: z.string().min(1),
  actions: z.array(z.string()),
});

/** The options of `verifyRegistryToken`, checked once and turned into a {@link Verification}. */
export const verificationSchema = z
  .strictObject({
    issuer: z.string().min(1),
    service: z.string().min(1),
    rootCertificates: z.string().optional(),
    jwks: z.object({ keys: z.array(z.looseObject({ kty: z.string() })) }).optional(),
    acceptAudienceArray: z.boolean().default(false),
    clockTolerance: z.number().min(0).max(3600).default(DEFAULT_CLOCK_TOLERANCE),
    // A function default is called by zod, so this one returns Date.now itself.
    clock: z
      .custom<() => number>((value) => typeof value === "function", "expected a function")
      .default(() => Date.now),
    requiredAccess: z.array(accessSchema).default([]),
  })
  .transform((options, ctx) => {
    const fail = (path: (string | number)[], message: string) => {
      ctx.addIssue({ code: "custom", path, message });
      return z.NEVER;
    };
    if (options.rootCertificates === undefined && options.jwks === undefined) {
      return fail(["rootCertificates"], "rootCertificates or jwks is required to trust any key");
    }
    let roots: X509Certificate[] = [];
    if (options.rootCertificates !== undefined) {
      try {
        roots = readPemCertificates(options.rootCertificates);
      } catch (error) {
        return fail(["rootCertificates"], (error as Error).message);
      }
      if (roots.length === 0) return fail(["rootCertificates"], "no PEM CERTIFICATE block found");
      for (const [index, root] of roots.entries()) {
        const usable = keyAlgorithm(root.publicKey);
        if (!usable.ok) {
          return fail(["rootCertificates"], `certificate ${index}: ${usable.problem}`);
        }
      }
    }
    const jwks: { key: KeyObject; kid: string | undefined }[] = [];
    for (const [index, jwk] of (options.jwks?.keys ?? []).entries()) {
      const path = ["jwks", "keys", index];
      if (hasPrivateMembers(jwk)) {
        return fail(path, "holds private key members, expected a public JWK");
      }
      let key: KeyObject;
      try {
        key = publicKeyOf(jwk as JWK);
      } catch (error) {
        return fail(path, (error as Error).message);
      }
      const usable = keyAlgorithm(key);
      if (!usable.ok) return fail(path, usable.problem);
      jwks.push({ key, kid: typeof jwk.kid === "string" ? jwk.kid : undefined });
    }
    return {
      ...options,
      requiredAccess: options.requiredAccess as readonly AccessEntry[],
      trust: buildTrust(roots, jwks),
    };
  });

function decodeHeader(token: string): Record<string, unknown> {
  const encoded = token.slice(0, token.indexOf("."));
  let header: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(encoded)) throw new Error("not base64url");
    header = JSON.parse(Buffer.from(encoded, "base64url").toString("utf8"));
  } catch {
    throw tokenInvalid("malformed header: not base64url JSON");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw tokenInvalid("malformed header: not a JSON object");
  }
  return header as Record<string, unknown>;
}

async function verifySignature(token: string, key: KeyObject, algorithm: string) {
  try {
    return await compactVerify(token, key, { algorithms: [algorithm] });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") {
      throw tokenInvalid("signature verification failed", error);
    }
    if (code === "ERR_JWS_INVALID") throw tokenInvalid("malformed token", error);
    throw tokenInvalid("the signing key does not fit the algorithm", error);
  }
}

/** Checked verification options: what {@link verifyPrepared} needs. */
export interface Verification {
  readonly issuer: string;
  readonly service: string;
  readonly acceptAudienceArray: boolean;
  readonly clockTolerance: number;
  readonly clock: () => number;
  readonly requiredAccess: readonly AccessEntry[];
  readonly trust: Trust;
}

/**
 * Verifies a compact registry token against checked options (see
 * `verifyRegistryToken` for the steps).
 *
 * @throws RegauthError `ERR_TOKEN_INVALID` naming the check that failed.
 */
export async function verifyPrepared(
  token: string,
  config: Verification,
): Promise<RegistryTokenClaims> {
  if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH) {
    throw tokenInvalid("malformed token: not a string of reasonable length");
  }
  if (token.split(".").length !== 3) {
    throw tokenInvalid("malformed token: expected three dot-separated parts");
  }
  const header = decodeHeader(token);
  const algorithm = header.alg;
  if (
    typeof algorithm !== "string" ||
    !(REGISTRY_TOKEN_ALGORITHMS as string[]).includes(algorithm)
  ) {
    throw tokenInvalid(
      `algorithm not allowed, expected one of ${REGISTRY_TOKEN_ALGORITHMS.join(", ")}`,
    );
  }
  const now = config.clock();
  const key = resolveSigningKey(header, config.trust, now);
  const { payload } = await verifySignature(token, key, algorithm);
  const claims = readClaims(payload);

  if (claims.iss !== config.issuer) {
    throw tokenInvalid(`unexpected issuer, expected ${JSON.stringify(config.issuer)}`);
  }
  if (typeof claims.aud !== "string") {
    if (!config.acceptAudienceArray) {
      throw tokenInvalid("aud claim is an array, registry 2.8 expects a string");
    }
    if (!claims.aud.includes(config.service)) {
      throw tokenInvalid(`unexpected audience, expected ${JSON.stringify(config.service)}`);
    }
  } else if (claims.aud !== config.service) {
    throw tokenInvalid(`unexpected audience, expected ${JSON.stringify(config.service)}`);
  }
  const seconds = now / 1000;
  if (seconds > claims.exp + config.clockTolerance) throw tokenInvalid("token expired");
  if (claims.nbf !== undefined && seconds < claims.nbf - config.clockTolerance) {
    throw tokenInvalid("token not valid yet (nbf in the future)");
  }
  const missing = findMissingAccess(claims.access, config.requiredAccess);
  if (missing !== undefined) throw tokenInvalid(missing);
  return claims;
}
