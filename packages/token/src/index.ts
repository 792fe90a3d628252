export { assertRegistryTrust } from "./assert-registry-trust.js";
export {
  type CheckRegistryTrustOptions,
  checkRegistryTrust,
  REGISTRY_VERSIONS,
  type RegistryTrustReport,
  type RegistryTrustVerdict,
  type RegistryVersion,
} from "./check-registry-trust.js";
export {
  createRegistryTokenGuard,
  type RegistryTokenGuard,
  type RegistryTokenGuardOptions,
  type VerifiedRegistryToken,
} from "./create-registry-token-guard.js";
export {
  createTokenIssuer,
  DEFAULT_TOKEN_LIFETIME,
  MAX_TOKEN_LIFETIME,
  MIN_TOKEN_LIFETIME,
  type RegistryTokenIssuer,
  type TokenIssuerOptions,
} from "./create-token-issuer.js";
export {
  type ExportRegistryTrustOptions,
  exportRegistryTrust,
  type RegistryTrust,
} from "./export-registry-trust.js";
export {
  GENERATED_RSA_BITS,
  type GeneratedKeyAlgorithm,
  type GeneratedSigningKey,
  type GenerateSigningKeyOptions,
  generateSigningKey,
} from "./generate-signing-key.js";
export { libtrustKeyId } from "./libtrust-key-id.js";
export type { KeyIdMode, RegistryTokenClaims, SigningAlgorithm } from "./model.js";
export { thumbprintKeyId } from "./thumbprint-key-id.js";
export {
  DEFAULT_CLOCK_TOLERANCE,
  REGISTRY_TOKEN_ALGORITHMS,
  type VerifyRegistryTokenOptions,
  verifyRegistryToken,
} from "./verify-registry-token.js";
export { type WriteRegistryTrustOptions, writeRegistryTrust } from "./write-registry-trust.js";
