import type { KeyObject, X509Certificate } from "node:crypto";
import { isRegauthError, parseOptions } from "@regauth/core";
import type { JWK } from "jose";
import { z } from "zod";
import type { RegistryTokenIssuer } from "./create-token-issuer.js";
import { readPemCertificates } from "./internal/certificates.js";
import { hasPrivateMembers, publicKeyOf, sameKey } from "./internal/keys.js";
import { buildTrust } from "./internal/trust.js";
import { DEFAULT_CLOCK_TOLERANCE, verifyPrepared } from "./internal/verify.js";
import { libtrustKeyId } from "./libtrust-key-id.js";
import { thumbprintKeyId } from "./thumbprint-key-id.js";

/**
 * A registry whose token verification {@link checkRegistryTrust} reproduces:
 *
 * - `"2.8"`: distribution 2.8 (Debian's `docker-registry`): `x5c` chained to
 *   the `rootcertbundle`, or a `kid` that is the libtrust ID of a bundle key.
 * - `"3.x"`: distribution 3.1 and later: `x5c` chained to the
 *   `rootcertbundle`, or a `kid` that is the RFC 7638 thumbprint of a bundle
 *   key or the `kid` of a `jwks` entry. (3.0.0 computed thumbprints wrongly;
 *   use `x5c` or the JWKS with it.)
 */
export type RegistryVersion = "2.8" | "3.x";

/** Every {@link RegistryVersion}, the default of `registries`. */
export const REGISTRY_VERSIONS: readonly RegistryVersion[] = Object.freeze(["2.8", "3.x"]);

/**
 * Options of {@link checkRegistryTrust}.
 *
 * - `issuer`: the issuer whose tokens are checked (`createTokenIssuer`). Required.
 * - `service`: the registry's `auth.token.service`, the sample token's
 *   audience. Required.
 * - `rootCertBundle`: the PEM the registry is given as
 *   `auth.token.rootcertbundle`. Default none (a 2.8 registry then refuses to start).
 * - `jwks`: the JWKS registry 3.x is given as `auth.token.jwks`; registry 2.8
 *   has no such setting. Default none.
 * - `registries`: which registries must accept the tokens. Default both, `["2.8", "3.x"]`.
 * - `clock`: the current time in milliseconds, for certificate validity and
 *   the sample token. Default `Date.now`; the issuer signs with its own clock.
 */
export interface CheckRegistryTrustOptions {
  readonly issuer: RegistryTokenIssuer;
  readonly service: string;
  readonly rootCertBundle?: string | undefined;
  readonly jwks?: { readonly keys: readonly JWK[] } | undefined;
  readonly registries?: readonly RegistryVersion[];
  readonly clock?: () => number;
}

/**
 * What one registry would do with the issuer's tokens.
 *
 * - `registry`: which one.
 * - `accepted`: whether it would accept them.
 * - `reason`: why not, with what to change; absent when accepted.
 */
export interface RegistryTrustVerdict {
  readonly registry: RegistryVersion;
  readonly accepted: boolean;
  readonly reason?: string;
}

/**
 * The outcome of {@link checkRegistryTrust}.
 *
 * - `ok`: every registry asked for would accept the tokens.
 * - `verdicts`: one per registry asked for, in the order asked.
 * - `message`: one line per refusing registry, `registry 2.8 would reject
 *   these tokens: <reason>`; `""` when `ok`.
 */
export interface RegistryTrustReport {
  readonly ok: boolean;
  readonly verdicts: readonly RegistryTrustVerdict[];
  readonly message: string;
}

const optionsSchema = z.strictObject({
  issuer: z.custom<RegistryTokenIssuer>(
    (value) =>
      typeof value === "object" &&
      value !== null &&
      typeof (value as RegistryTokenIssuer).issue === "function" &&
      typeof (value as RegistryTokenIssuer).publicKey === "object",
    "expected an issuer from createTokenIssuer",
  ),
  service: z.string().min(1),
  rootCertBundle: z.string().optional(),
  jwks: z.object({ keys: z.array(z.looseObject({ kty: z.string() })) }).optional(),
  registries: z
    .array(z.enum(["2.8", "3.x"]))
    .min(1)
    .default([...REGISTRY_VERSIONS]),
  clock: z
    .custom<() => number>((value) => typeof value === "function", "expected a function")
    .default(() => Date.now),
});

/** Key types libtrust (registry 2.8) reads; another in the bundle stops it at startup. */
function libtrustReads(key: KeyObject): boolean {
  if (key.asymmetricKeyType === "rsa") return true;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return (
    key.asymmetricKeyType === "ec" &&
    (curve === "prime256v1" || curve === "secp384r1" || curve === "secp521r1")
  );
}

/** What the registry is given, read as it reads it; or why it would not start. */
interface RegistryInput {
  readonly roots: readonly X509Certificate[];
  readonly jwks: readonly { readonly key: KeyObject; readonly kid: string | undefined }[];
}

function readInput(
  registry: RegistryVersion,
  bundle: string | undefined,
  jwks: readonly JWK[] | undefined,
): RegistryInput | string {
  let roots: X509Certificate[] = [];
  if (bundle !== undefined) {
    try {
      roots = readPemCertificates(bundle);
    } catch (error) {
      return `it would not start: the rootcertbundle's ${(error as Error).message}`;
    }
  }
  const keys: { key: KeyObject; kid: string | undefined }[] = [];
  if (registry === "3.x") {
    for (const [index, jwk] of (jwks ?? []).entries()) {
      if (hasPrivateMembers(jwk)) {
        return `the JWKS entry ${index} holds a private key: publish public keys only`;
      }
      try {
        keys.push({
          key: publicKeyOf(jwk),
          kid: typeof jwk.kid === "string" ? jwk.kid : undefined,
        });
      } catch {
        return `it would not start: the JWKS entry ${index} is not a usable public key`;
      }
    }
  }
  if (registry === "2.8") {
    if (roots.length === 0) {
      return "it would not start: 2.8 needs auth.token.rootcertbundle with at least one certificate (it has no JWKS setting)";
    }
    const unreadable = roots.findIndex((root) => !libtrustReads(root.publicKey));
    if (unreadable >= 0) {
      return `it would not start: certificate ${unreadable} of the rootcertbundle holds a key of type ${roots[unreadable]?.publicKey.asymmetricKeyType ?? "unknown"}, and 2.8 reads only RSA and EC P-256/P-384/P-521 keys`;
    }
  } else if (roots.length === 0 && keys.length === 0) {
    return "it would not start: 3.x needs a rootcertbundle or a JWKS with at least one key";
  }
  return { roots, jwks: keys };
}

/** What to change when the registry could not find the signing key by `kid`. */
function kidAdvice(
  registry: RegistryVersion,
  header: Record<string, unknown>,
  issuer: RegistryTokenIssuer,
  input: RegistryInput,
): string | undefined {
  const kid = header.kid;
  if (typeof kid !== "string" || header.x5c !== undefined) return undefined;
  const inBundle = input.roots.some((root) => sameKey(root.publicKey, issuer.publicKey));
  if (registry === "2.8") {
    if (!inBundle) {
      return "no certificate of the rootcertbundle holds the signing key: put the issuer's certificate in it (exportRegistryTrust does)";
    }
    if (kid === thumbprintKeyId(issuer.publicKey)) {
      return 'the kid is an RFC 7638 thumbprint (keyId: "thumbprint"), and 2.8 looks a kid up only by libtrust ID: use keyId: "libtrust", or x5c: true';
    }
    return undefined;
  }
  if (kid === libtrustKeyId(issuer.publicKey)) {
    return 'the kid is a libtrust ID, and 3.x looks a kid up only by the RFC 7638 thumbprint of a rootcertbundle key or by the kid of a JWKS entry: give the registry auth.token.jwks with the exported JWKS, or use x5c: true (or keyId: "thumbprint", which 2.8 rejects)';
  }
  if (!inBundle && !input.jwks.some((entry) => sameKey(entry.key, issuer.publicKey))) {
    return "neither the rootcertbundle nor the JWKS holds the signing key: export them from this issuer (exportRegistryTrust)";
  }
  return undefined;
}

/** What to change when an `x5c` chain was refused. */
function x5cAdvice(message: string): string | undefined {
  if (message.includes("does not lead to a trusted root")) {
    return "put the root of the chain (or its last certificate) in the rootcertbundle: exportRegistryTrust adds the chain's last certificate, extraRootCertificates adds a root";
  }
  if (message.includes("expired or not yet valid")) {
    return "renew the certificate: the registry checks the x5c chain's validity dates";
  }
  return undefined;
}

/**
 * Checks, before any client asks, that a registry would accept the issuer's
 * tokens: signs a sample token with the issuer and verifies it the way each
 * registry does (protocol.md §3), with the `rootcertbundle` and JWKS it is
 * given:
 *
 * - registry 2.8: it must start (a bundle with at least one certificate, all
 *   of RSA or EC P-256/P-384/P-521 keys); the key is found by `x5c` (chained
 *   to the bundle, every certificate within its dates) or by `kid` as the
 *   libtrust ID of a bundle key.
 * - registry 3.x (3.1+): it must start (a bundle or a JWKS with keys); the
 *   key is found by `x5c`, or by `kid` as the RFC 7638 thumbprint of a bundle
 *   key or the `kid` of a JWKS entry.
 * - then, for both: the algorithm, the signature, `iss`, `aud` (a string),
 *   `exp`/`nbf` and the sample's access, as `verifyRegistryToken` checks them.
 *
 * A refusal's `reason` says why and what to change, for instance `the kid is
 * an RFC 7638 thumbprint (keyId: "thumbprint"), and 2.8 looks a kid up only by
 * libtrust ID: use keyId: "libtrust", or x5c: true`. The registry's own
 * `issuer` setting cannot be seen from here: it must equal `issuer.issuer`.
 *
 * @param options See {@link CheckRegistryTrustOptions}.
 * @returns The report; see {@link RegistryTrustReport}. It never rejects for
 *   a refusal: `assertRegistryTrust` does.
 * @throws RegauthError `ERR_CONFIG_INVALID` (rejected promise) for bad options.
 *
 * @example
 * const trust = exportRegistryTrust(issuer);
 * const report = await checkRegistryTrust({ issuer, service: "registry.example.com", ...trust });
 * if (!report.ok) console.error(report.message);
 */
export async function checkRegistryTrust(
  options: CheckRegistryTrustOptions,
): Promise<RegistryTrustReport> {
  const config = parseOptions(optionsSchema, options);
  const { issuer, service, clock } = config;
  const access = [{ type: "repository", name: "regauth/trust-check", actions: ["pull"] }];
  const { token } = await issuer.issue({
    subject: "regauth-trust-check",
    audience: service,
    access,
  });
  const header = JSON.parse(
    Buffer.from(token.slice(0, token.indexOf(".")), "base64url").toString("utf8"),
  ) as Record<string, unknown>;

  const verdicts: RegistryTrustVerdict[] = [];
  for (const registry of new Set(config.registries)) {
    const input = readInput(registry, config.rootCertBundle, config.jwks?.keys as JWK[]);
    if (typeof input === "string") {
      verdicts.push({ registry, accepted: false, reason: input });
      continue;
    }
    try {
      await verifyPrepared(token, {
        issuer: issuer.issuer,
        service,
        acceptAudienceArray: false,
        clockTolerance: DEFAULT_CLOCK_TOLERANCE,
        clock,
        requiredAccess: access,
        trust: buildTrust(input.roots, input.jwks, registry),
      });
      verdicts.push({ registry, accepted: true });
    } catch (error) {
      if (!isRegauthError(error, "ERR_TOKEN_INVALID")) throw error;
      const advice =
        kidAdvice(registry, header, issuer, input) ??
        (header.x5c === undefined ? undefined : x5cAdvice(error.message));
      const reason = advice === undefined ? error.message : `${error.message}; ${advice}`;
      verdicts.push({ registry, accepted: false, reason });
    }
  }
  const refused = verdicts.filter((verdict) => !verdict.accepted);
  return {
    ok: refused.length === 0,
    verdicts,
    message: refused
      .map((verdict) => `registry ${verdict.registry} would reject these tokens: ${verdict.reason}`)
      .join("\n"),
  };
}
