export {
  createMemoryRegistryPasswordStore,
  DEFAULT_MAX_MEMORY_REGISTRY_PASSWORDS,
  type MemoryRegistryPasswordStoreOptions,
} from "./create-memory-registry-password-store.js";
export {
  createMongoRegistryPasswordStore,
  DEFAULT_MONGO_PASSWORD_COLLECTION,
  DEFAULT_MONGO_PASSWORD_TIMEOUT_MS,
  type MongoRegistryPasswordStore,
  type MongoRegistryPasswordStoreOptions,
} from "./create-mongo-registry-password-store.js";
export {
  createOidcLogin,
  DEFAULT_OIDC_PASSWORD_LIFETIME,
  DEFAULT_OIDC_RECHECK_INTERVAL,
  DEFAULT_OIDC_SCOPES,
  GOOGLE_ISSUER,
  type OidcLogin,
  type OidcLoginFailure,
  type OidcLoginOptions,
} from "./create-oidc-login.js";
export {
  createRedisRegistryPasswordStore,
  DEFAULT_REDIS_PASSWORD_KEY_PREFIX,
  DEFAULT_REDIS_PASSWORD_TIMEOUT_MS,
  type RedisRegistryPasswordStoreOptions,
} from "./create-redis-registry-password-store.js";
export type {
  RegistryPasswordRecord,
  RegistryPasswordStore,
  RegistryPasswordUpdate,
} from "./registry-password-store.js";
