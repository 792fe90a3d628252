import { createChain } from "./internal/chain.js";
import { isAuthzResult } from "./internal/results.js";
import type { Authorizer, AuthzRequest, AuthzResult } from "./model.js";

/**
 * Chains authorizers as docker_auth does (protocol.md §4): for a scope, each is
 * asked in order; the first `grant` decides (an empty grant is an explicit
 * deny); `no-match` asks the next; a thrown error ends the chain with
 * `ERR_BACKEND_UNAVAILABLE`, the cause kept (a `RegauthError` coded
 * `ERR_BACKEND_UNAVAILABLE`, `ERR_OVERLOADED` or `ERR_INTERNAL` passes
 * unchanged). When nobody decides, the chain answers `no-match`
 * and the token handler grants that scope no actions.
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` when the list is empty.
 *
 * @example
 * const authorizer = chainAuthorizers([staticAcl, mongoAcl]);
 */
export function chainAuthorizers(authorizers: readonly Authorizer[]): Authorizer {
  const chain = createChain(
    "authorizer",
    authorizers,
    (member, request: AuthzRequest) => member.authorize(request),
    (outcome: AuthzResult) => outcome.result === "grant",
    isAuthzResult,
  );
  return { name: chain.name, authorize: chain.run, close: chain.close };
}
