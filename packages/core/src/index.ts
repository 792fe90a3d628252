export { chainAuthenticators } from "./chain-authenticators.js";
export { chainAuthorizers } from "./chain-authorizers.js";
export {
  createMemoryRefreshTokenStore,
  DEFAULT_MAX_MEMORY_REFRESH_TOKENS,
  type MemoryRefreshTokenStoreOptions,
} from "./create-memory-refresh-token-store.js";
export {
  createRefreshTokens,
  DEFAULT_REFRESH_TOKEN_LIFETIME,
  MAX_REFRESH_TOKEN_LIFETIME,
  MIN_REFRESH_TOKEN_LIFETIME,
  REFRESH_TOKEN_PREFIX,
  type RefreshAccountCheck,
  type RefreshTokenBinding,
  type RefreshTokenOptions,
  type RefreshTokens,
} from "./create-refresh-tokens.js";
export {
  createTokenEndpoint,
  DEFAULT_MAX_BODY_BYTES,
  MAX_QUERY_PARAMETERS,
  MAX_URL_LENGTH,
  type TokenEndpoint,
  type TokenHandlerOptions,
  type TokenReply,
  type TokenRequest,
} from "./create-token-endpoint.js";
export {
  createTokenHandler,
  type RequestContext,
  type TokenHandler,
} from "./create-token-handler.js";
export { type ErrorCode, isRegauthError, RegauthError } from "./errors.js";
export { formatScope, formatScopes } from "./format-scope.js";
export { intersectActions } from "./intersect-actions.js";
export { type Logger, silentLogger } from "./logger.js";
export type {
  AccessEntry,
  AccountLookup,
  Authenticator,
  AuthnRequest,
  AuthnResult,
  Authorizer,
  AuthzRequest,
  AuthzResult,
  IssuedToken,
  Labels,
  TokenGrant,
  TokenIssuer,
} from "./model.js";
export { parseOptions } from "./parse-options.js";
export { parseScope, parseScopes } from "./parse-scope.js";
export type { RefreshTokenRecord, RefreshTokenStore } from "./refresh-token-store.js";
export {
  DEFAULT_MAX_SCOPE_LENGTH,
  DEFAULT_MAX_SCOPES,
  type Scope,
  type ScopeLimits,
} from "./scope.js";
export type {
  RequiredAccess,
  TokenCheck,
  TokenGuard,
  TokenRefusal,
  VerifiedToken,
} from "./token-guard.js";
