import { RegauthError } from "./errors.js";
import { backendError, closeAll, memberName } from "./internal/backend.js";
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
  if (authorizers.length === 0) {
    throw new RegauthError("ERR_CONFIG_INVALID", "authorizers: at least one is needed");
  }
  const members = [...authorizers];
  return {
    name: `chain(${members.map(memberName).join(",")})`,
    async authorize(request: AuthzRequest): Promise<AuthzResult> {
      for (const [index, member] of members.entries()) {
        let outcome: AuthzResult;
        try {
          outcome = await member.authorize(request);
        } catch (error) {
          throw backendError("authorizer", memberName(member, index), error);
        }
        if (outcome.result === "grant") return outcome;
      }
      return { result: "no-match" };
    },
    async close() {
      await closeAll(members);
    },
  };
}
