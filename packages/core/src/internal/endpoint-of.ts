import type { TokenEndpoint } from "../create-token-endpoint.js";

/** Where a Web handler made by `createTokenHandler` keeps its endpoint. */
const ENDPOINT = Symbol("regauth.tokenEndpoint");

/**
 * Marks `handler` as the Web face of `endpoint`, so that the node:http,
 * Express and Koa adapters can call the endpoint directly and skip the
 * Web `Request`/`Response` objects (about a quarter of a returning user's
 * cost on Node 20).
 */
export function attachEndpoint<T extends object>(handler: T, endpoint: TokenEndpoint): T {
  Object.defineProperty(handler, ENDPOINT, { value: endpoint, enumerable: false });
  return handler;
}

/** The endpoint behind a handler made by `createTokenHandler`, else `undefined`. */
export function endpointOf(handler: unknown): TokenEndpoint | undefined {
  if (typeof handler !== "function") return undefined;
  const endpoint = (handler as unknown as Record<symbol, unknown>)[ENDPOINT];
  return typeof endpoint === "function" ? (endpoint as TokenEndpoint) : undefined;
}
