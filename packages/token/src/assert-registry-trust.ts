import { RegauthError } from "@regauth/core";
import {
  type CheckRegistryTrustOptions,
  checkRegistryTrust,
  type RegistryTrustReport,
} from "./check-registry-trust.js";

/**
 * The startup form of {@link checkRegistryTrust}: resolves to the report when
 * every registry asked for would accept the issuer's tokens, and rejects
 * otherwise, so a misconfigured token server stops before it hands out tokens
 * that a registry refuses.
 *
 * @param options See {@link CheckRegistryTrustOptions}.
 * @returns The report, every verdict accepted.
 * @throws RegauthError `ERR_CONFIG_INVALID` (rejected promise) for bad
 *   options, or when a registry would reject the tokens, with the report's
 *   message: which registry, why, what to change (`registry 2.8 would reject
 *   these tokens: ...`).
 *
 * @example
 * const issuer = createTokenIssuer({ issuer: "regauth", privateKey, certificateChain, keyId: "thumbprint" });
 * await assertRegistryTrust({ issuer, service: "registry.example.com", ...exportRegistryTrust(issuer) });
 * // rejects: registry 2.8 would reject these tokens: ... the kid is an RFC 7638 thumbprint ...
 */
export async function assertRegistryTrust(
  options: CheckRegistryTrustOptions,
): Promise<RegistryTrustReport> {
  const report = await checkRegistryTrust(options);
  if (!report.ok) throw new RegauthError("ERR_CONFIG_INVALID", report.message);
  return report;
}
