import { createChain } from "./internal/chain.js";
import { isAuthnResult } from "./internal/results.js";
import type { AccountLookup, Authenticator, AuthnRequest, AuthnResult } from "./model.js";

/**
 * Chains authenticators as docker_auth does (protocol.md §4): each is asked in
 * order; `allow` and `deny` end the chain; `no-match` asks the next; a thrown
 * error ends the chain with `ERR_BACKEND_UNAVAILABLE` (the cause kept), so a
 * broken backend is never mistaken for a wrong password (a `RegauthError` coded
 * `ERR_BACKEND_UNAVAILABLE`, `ERR_OVERLOADED` or `ERR_INTERNAL` passes
 * unchanged; any other code is wrapped too). When nobody decides the
 * chain answers `no-match`, which the token handler answers with 401.
 *
 * `close()` closes every member that has a `close`.
 *
 * The chain has `lookup` (an account checked without its password) when every
 * member has one: asked in the same order, with the same rules. When one
 * member cannot look accounts up, the chain cannot either, and has none.
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` when the list is empty.
 *
 * @example
 * const authenticator = chainAuthenticators([staticUsers, ldap]);
 */
export function chainAuthenticators(authenticators: readonly Authenticator[]): Authenticator {
  const chain = createChain(
    "authenticator",
    authenticators,
    (member, request: AuthnRequest) => member.authenticate(request),
    (outcome: AuthnResult) => outcome.result !== "no-match",
    isAuthnResult,
  );
  if (!authenticators.every((member) => member.lookup !== undefined)) {
    return { name: chain.name, authenticate: chain.run, close: chain.close };
  }
  const lookupChain = createChain(
    "authenticator",
    authenticators,
    (member, request: AccountLookup) =>
      (member.lookup as NonNullable<Authenticator["lookup"]>)(request),
    (outcome: AuthnResult) => outcome.result !== "no-match",
    isAuthnResult,
  );
  return {
    name: chain.name,
    authenticate: chain.run,
    lookup: lookupChain.run,
    close: chain.close,
  };
}
