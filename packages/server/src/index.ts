export { type CliIo, main } from "./cli/main.js";
export {
  type ConfiguredHandler,
  type ConfiguredHandlerOptions,
  type ConfiguredOidcLogin,
  createConfiguredHandler,
  type MemoryStores,
} from "./create-configured-handler.js";
export {
  createExtAuthenticator,
  type ExtAuthenticatorOptions,
} from "./create-ext-authenticator.js";
export { createExtAuthorizer, type ExtAuthorizerOptions } from "./create-ext-authorizer.js";
export { type DevConfig, type DevConfigOptions, ensureDevConfig } from "./ensure-dev-config.js";
export {
  type AclMiss,
  type ExplainRequest,
  explainAccess,
  formatExplanation,
  type ScopeExplanation,
} from "./explain-access.js";
export {
  type AclMongoSection,
  type ConfigSource,
  type ExtProgramSection,
  type LdapAuthSection,
  type LdapLabelSection,
  type LoadConfigOptions,
  loadConfig,
  type MongoAuthSection,
  type MongoDialInfo,
  type OidcAuthSection,
  type RedisSection,
  type RefreshTokensSection,
  type RegauthConfig,
  type ServerSection,
  type TokenSection,
  type UserEntry,
} from "./load-config.js";
export { type RegistryTokenConfig, registryTokenConfig } from "./registry-token-config.js";
export { type RunningServer, type StartServerOptions, startServer } from "./start-server.js";
