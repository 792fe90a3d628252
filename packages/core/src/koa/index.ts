export {
  type RequireRegistryTokenOptions,
  requireRegistryToken,
} from "./require-registry-token.js";
export {
  type KoaContextLike,
  type KoaMiddleware,
  type KoaMiddlewareOptions,
  type KoaNext,
  toKoaMiddleware,
} from "./to-koa-middleware.js";
