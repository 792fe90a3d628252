export {
  createTokenIssuer,
  DEFAULT_TOKEN_LIFETIME,
  MAX_TOKEN_LIFETIME,
  MIN_TOKEN_LIFETIME,
  type RegistryTokenIssuer,
  type TokenIssuerOptions,
} from "./create-token-issuer.js";
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
