export {
  createRedisRefreshTokenStore,
  DEFAULT_REDIS_KEY_PREFIX,
  DEFAULT_REDIS_TIMEOUT_MS,
  type RedisRefreshTokenStoreOptions,
  type RedisScriptClient,
} from "./create-redis-refresh-token-store.js";
