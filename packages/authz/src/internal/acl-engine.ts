import { type AuthzRequest, type AuthzResult, intersectActions, RegauthError } from "@regauth/core";
import type { AclEntry } from "../acl-schema.js";
import type { AclAuthorizer, AclDecision } from "../create-acl-authorizer.js";
import { type CompiledEntry, compileEntryOnce } from "./compile-entry.js";
import { EntryIndex } from "./entry-index.js";
import {
  MatchContext,
  matchEntry,
  type PlaceholderValue,
  RuntimePatternError,
} from "./match-entry.js";
import { RegexCache } from "./regex-cache.js";

/** How many request-dependent regular expressions one authorizer keeps compiled. */
const REGEX_CACHE_SIZE = 1024;

const NO_MATCH: AuthzResult = Object.freeze({ result: "no-match" });

interface RuntimeEntry {
  readonly compiled: CompiledEntry;
  readonly grant: AuthzResult;
}

/**
 * The ACL engine behind every ACL authorizer: compiles entries that passed
 * `aclSchema` (their compiled form is reused from validation) into an
 * {@link AclAuthorizer} named `name`. The static ACL calls it once; the
 * MongoDB ACL once per load. `entryName` names an entry in `ERR_INTERNAL`
 * messages (default `acl[N]`).
 */
export function compileAcl(
  acl: readonly AclEntry[],
  name: string,
  entryName: (position: number) => string = (position) => `acl[${position}]`,
): AclAuthorizer {
  const entries: RuntimeEntry[] = acl.map((entry) => {
    const compiled = compileEntryOnce(entry);
    if (Array.isArray(compiled)) {
      // The schema compiled every entry already; this cannot fail.
      throw new RegauthError("ERR_INTERNAL", "acl: an entry passed validation but did not compile");
    }
    return {
      compiled,
      grant: Object.freeze({ result: "grant", actions: compiled.actions }),
    };
  });
  const index = new EntryIndex(entries.map((entry) => entry.compiled));
  const cache = new RegexCache(REGEX_CACHE_SIZE);

  function decide(request: AuthzRequest, trace: PlaceholderValue[] | undefined): number {
    const context = new MatchContext(request, cache, trace);
    let current = -1;
    try {
      return index.first(request.account, request.scope.name, (position) => {
        current = position;
        const entry = entries[position];
        return entry !== undefined && matchEntry(entry.compiled, context);
      });
    } catch (error) {
      if (!(error instanceof RuntimePatternError)) throw error;
      throw new RegauthError(
        "ERR_INTERNAL",
        `${entryName(current)}.match.${error.path}: pattern does not compile with this request's values: ${error.message}`,
        { cause: error },
      );
    }
  }

  return Object.freeze({
    name,
    async authorize(request: AuthzRequest): Promise<AuthzResult> {
      return entries[decide(request, undefined)]?.grant ?? NO_MATCH;
    },
    explain(request: AuthzRequest): AclDecision {
      const trace: PlaceholderValue[] = [];
      const position = decide(request, trace);
      const entry = entries[position];
      if (entry === undefined) {
        return {
          entryIndex: undefined,
          comment: undefined,
          allowed: undefined,
          granted: [],
          placeholders: [],
        };
      }
      return {
        entryIndex: position,
        comment: entry.compiled.comment,
        allowed: entry.compiled.actions,
        granted: intersectActions(request.scope.actions, entry.compiled.actions),
        placeholders: trace,
      };
    },
  });
}
