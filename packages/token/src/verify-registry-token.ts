import type { KeyObject, X509Certificate } from "node:crypto";
import { type AccessEntry, parseOptions } from "@regauth/core";
import { compactVerify, type JWK } from "jose";
import { z } from "zod";
import { findMissingAccess } from "./internal/access.js";
import { readPemCertificates } from "./internal/certificates.js";
import { readClaims } from "./internal/claims.js";
import { hasPrivateMembers, keyAlgorithm, publicKeyOf } from "./internal/keys.js";
import { tokenInvalid } from "./internal/token-invalid.js";
import { buildTrust, resolveSigningKey } from "./internal/trust.js";
import type { RegistryTokenClaims, SigningAlgorithm } from "./model.js";

/** Algorithms {@link verifyRegistryToken} accepts: those registry 2.8 verifies. */
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

/**
 * Options of {@link verifyRegistryToken}.
 *
 * - `issuer`: the expected `iss` (the registry's `auth.token.issuer`). Required.
 * - `service`: the expected `aud` (the registry's `auth.token.service`). Required.
 * - `rootCertificates`: a PEM bundle, as the registry's `rootcertbundle`: `x5c`
 *   chains must lead to one of these certificates, and their public keys are
 *   trusted for `kid` and `jwk` references.
 * - `jwks`: a JSON Web Key Set of trusted public keys, as registry 3.x's
 *   `auth.token.jwks`; a key is found by its `kid` member, its libtrust ID or
 *   its thumbprint. At least one of `rootCertificates` and `jwks` is required.
 * - `acceptAudienceArray`: accept an `aud` array that contains `service`, as
 *   registry 3.x does. Default `false`: registry 2.8 treats an array as a
 *   malformed token, and so does this check.
 * - `clockTolerance`: leeway on `exp` and `nbf`, in seconds. Default 60, the registry's.
 * - `clock`: current time in milliseconds since the epoch. Default `Date.now`.
 * - `requiredAccess`: access the token must grant; see {@link verifyRegistryToken}.
 *   Default: none checked.
 */
export interface VerifyRegistryTokenOptions {
  readonly issuer: string;
  readonly service: string;
  readonly rootCertificates?: string;
  readonly jwks?: { readonly keys: readonly JWK[] };
  readonly acceptAudienceArray?: boolean;
  readonly clockTolerance?: number;
  readonly clock?: () => number;
  readonly requiredAccess?: readonly AccessEntry[];
}

const accessSchema = z.strictObject({
  type: z.string().min(1),
  class: z.string().optional(),
  name: z.string().min(1),
  actions: z.array(z.string()),
});

const optionsSchema = z
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

/**
 * Verifies a registry token the way distribution's registry/auth/token does
 * (docs/spec/auth/jwt.md; protocol.md §3), for tests, diagnostics and
 * services that accept registry tokens.
 *
 * 1. The compact JWS is parsed; `alg` must be one of
 *    {@link REGISTRY_TOKEN_ALGORITHMS} (no `none`, HS*, PS*, EdDSA).
 * 2. The signing key is found in registry order: `x5c` (the leaf, whose chain
 *    must lead to a `rootCertificates` certificate, possibly through the
 *    other `x5c` certificates, every one within its validity dates), then
 *    `jwk` (a trusted key, or one whose own `x5c` chain is trusted), then
 *    `kid`, looked up by libtrust ID (registry 2.x), by RFC 7638 thumbprint
 *    and by JWKS `kid` (registry 3.x) among the `rootCertificates` keys and
 *    `jwks`: the union of both versions, so a thumbprint `kid` that passes
 *    here still fails on 2.8. No key reference: rejected.
 * 3. The signature must verify with that key (ECDSA as JOSE raw r||s).
 * 4. Claims: `iss` must equal `issuer`; `aud` must equal `service` (an array
 *    only with `acceptAudienceArray`); `exp` is required; the token is refused
 *    when now > `exp` + `clockTolerance` or now < `nbf` - `clockTolerance`;
 *    `exp`, `nbf`, `iat` must be integers. `iat` and `jti` are not checked,
 *    as in the registry.
 * 5. `requiredAccess`: each entry's actions must all be granted by the
 *    token's `access` entries of the same `type` and `name` (exact,
 *    case-sensitive; `class` is not compared; entries for one resource are
 *    merged; `*` grants every action on that resource).
 *
 * The options, including the certificate bundle, are read on every call.
 *
 * @param token The compact JWT.
 * @param options See {@link VerifyRegistryTokenOptions}.
 * @returns The token's claims.
 * @throws RegauthError `ERR_TOKEN_INVALID` (rejected promise) whose message
 *   says which check failed, never quoting the token;
 *   `ERR_CONFIG_INVALID` for bad options, naming the option.
 *
 * @example
 * const claims = await verifyRegistryToken(token, {
 *   issuer: "regauth",
 *   service: "registry.example.com",
 *   rootCertificates: readFileSync("token.crt", "utf8"),
 *   requiredAccess: [{ type: "repository", name: "team/app", actions: ["pull"] }],
 * });
 * claims.sub; // "alice"
 */
export async function verifyRegistryToken(
  token: string,
  options: VerifyRegistryTokenOptions,
): Promise<RegistryTokenClaims> {
  const config = parseOptions(optionsSchema, options);
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
