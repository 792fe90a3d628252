import { createTokenEndpoint, type TokenHandlerOptions } from "./create-token-endpoint.js";
import { attachEndpoint } from "./internal/endpoint-of.js";
import { fromWebRequest, toWebResponse } from "./internal/web-bridge.js";

/**
 * What an adapter knows about the connection that a `Request` does not carry.
 *
 * - `clientIp`: the socket's remote address, as the transport reports it.
 */
export interface RequestContext {
  readonly clientIp?: string | undefined;
}

/** A Web-standard token endpoint: a `Request` in, a `Response` out (it never rejects). */
export type TokenHandler = (request: Request, context?: RequestContext) => Promise<Response>;

/**
 * Creates the token endpoint of distribution's token auth (GET,
 * docs/spec/auth/token.md; POST, docs/spec/auth/oauth.md; protocol.md §2) as
 * a Web-standard handler: `(request, context?) => Promise<Response>`. Mount it
 * anywhere (a Fetch-style server, Deno, Bun, Hono...); it does not look at the
 * path. What it answers, and the options, are those of
 * {@link createTokenEndpoint}, which it wraps.
 *
 * The adapters for node:http (`@regauth/core/node`), Express and Koa pass the
 * socket address as `context.clientIp` and, given a handler made here, call
 * its endpoint directly: no `Request` or `Response` is built, which on Node 20
 * saves about a quarter of a returning user's CPU time. Both paths give the
 * same answers.
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` at construction for bad options,
 *   naming the option (`services[0]: ...`).
 *
 * @example
 * const handler = createTokenHandler({
 *   authenticators: [createStaticAuthenticator({ users })],
 *   authorizers: [createAclAuthorizer({ acl })],
 *   issuer: createTokenIssuer({ issuer: "regauth", privateKey }),
 *   services: ["registry.example.com"],
 * });
 * const response = await handler(new Request("http://x/auth?service=registry.example.com"));
 */
export function createTokenHandler(options: TokenHandlerOptions): TokenHandler {
  const endpoint = createTokenEndpoint(options);
  const handler: TokenHandler = async (request, context) =>
    toWebResponse(await endpoint(fromWebRequest(request, context?.clientIp)));
  return attachEndpoint(handler, endpoint);
}
