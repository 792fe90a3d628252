export {
  type ExpressResponseLike,
  type RequireRegistryTokenOptions,
  requireRegistryToken,
} from "./require-registry-token.js";
export {
  type ExpressMiddleware,
  type ExpressMiddlewareOptions,
  type ExpressNext,
  type ExpressRequestLike,
  toExpressMiddleware,
} from "./to-express-middleware.js";
