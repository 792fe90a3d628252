import { type AclEntry, type AclMatch, createAclAuthorizer } from "@regauth/authz";
import {
  type AuthzRequest,
  formatScope,
  type Labels,
  parseScopes,
  type Scope,
} from "@regauth/core";
import type { ConfiguredHandler } from "./create-configured-handler.js";
import type { RegauthConfig } from "./load-config.js";

/**
 * What {@link explainAccess} is asked: one token request, without credentials.
 *
 * - `account`: the account (`""` for anonymous).
 * - `labels`: the labels an authenticator would attach. Default `{}`.
 * - `ip`: the client address. Default: unknown (entries with `ip` never match).
 * - `service`: the service. Default: the first of `token.services`, else `""`.
 * - `scopes`: scope strings as clients send them (`repository:team/app:pull,push`).
 */
export interface ExplainRequest {
  readonly account: string;
  readonly labels?: Labels;
  readonly ip?: string | undefined;
  readonly service?: string | undefined;
  readonly scopes: readonly string[];
}

/** One ACL entry that was tried and did not match, and the conditions that failed. */
export interface AclMiss {
  readonly entryIndex: number;
  readonly comment: string | undefined;
  /** Each failing condition, readable: `account: "alice" does not match "admin"`. */
  readonly failed: readonly string[];
}

/**
 * The answer for one scope.
 *
 * - `scope`: as parsed; `text` as a client would write it.
 * - `granted`: the actions the token would hold for it (possibly `[]`).
 * - `decision`:
 *   - `acl`: entry `entryIndex` of the static ACL decided, with its
 *     `comment`, the actions it `allowed` as written and the label or
 *     capture values it matched with;
 *   - `acl_mongo`: no static entry matched and the MongoDB rule at position
 *     `entryIndex` (in `seq` order) decided: its `seq`, `documentId` (its
 *     `_id`, as text such as `ObjectId("...")`), `comment`, `allowed` and
 *     `placeholders`;
 *   - `unavailable`: the MongoDB rules were needed but none are loaded, so
 *     the server would answer 503; `reason` says why;
 *   - `ext_authz`: no ACL entry or rule matched and the external program
 *     would be asked next (explain never runs programs);
 *   - `none`: nobody decides, so nothing is granted.
 * - `misses`: when no static ACL entry decided, why each entry (the first 50)
 *   did not match.
 * - `aclMongoRules`: when the MongoDB rules were tried and none matched, how
 *   many there are; otherwise `undefined`.
 */
export interface ScopeExplanation {
  readonly scope: Scope;
  readonly text: string;
  readonly granted: readonly string[];
  readonly decision:
    | {
        readonly by: "acl";
        readonly entryIndex: number;
        readonly comment: string | undefined;
        readonly allowed: readonly string[];
        readonly placeholders: ReadonlyArray<{ field: string; placeholder: string; value: string }>;
      }
    | {
        readonly by: "acl_mongo";
        readonly entryIndex: number;
        readonly seq: number | undefined;
        readonly documentId: string;
        readonly comment: string | undefined;
        readonly allowed: readonly string[];
        readonly placeholders: ReadonlyArray<{ field: string; placeholder: string; value: string }>;
      }
    | { readonly by: "unavailable"; readonly authorizer: "acl_mongo"; readonly reason: string }
    | { readonly by: "ext_authz" }
    | { readonly by: "none" };
  readonly misses: readonly AclMiss[];
  /** How many ACL entries were left out of `misses`. */
  readonly missesOmitted: number;
  readonly aclMongoRules: number | undefined;
}

const MAX_MISSES = 50;
const FIELDS = ["account", "type", "name", "service"] as const;

/** The fields whose capture groups a pattern uses: `${name:1}` -> name. */
function captureSources(pattern: string): string[] {
  return [...pattern.matchAll(/\$\{(account|type|name|service):\d+\}/g)].map((m) => m[1] as string);
}

/** The value a condition is matched against, for messages. */
function actual(condition: string, request: AuthzRequest): string {
  if (condition === "ip") return request.clientIp === undefined ? "(unknown)" : request.clientIp;
  if (condition.startsWith("labels.")) {
    const values = request.labels[condition.slice("labels.".length)];
    return values === undefined ? "(no such label)" : `[${values.join(", ")}]`;
  }
  const value =
    condition === "type"
      ? request.scope.type
      : condition === "name"
        ? request.scope.name
        : condition === "service"
          ? request.service
          : request.account;
  return JSON.stringify(value);
}

/** A document `_id` for people: `ObjectId("...")`, `"text"`, `42`. */
function describeDocumentId(id: unknown): string {
  if (typeof id === "object" && id !== null) {
    const hex = (id as { toHexString?: unknown }).toHexString;
    if (typeof hex === "function") return `ObjectId("${String(hex.call(id))}")`;
  }
  if (typeof id === "string") return JSON.stringify(id);
  if (typeof id === "number" || typeof id === "bigint" || typeof id === "boolean") {
    return String(id);
  }
  return id === undefined ? "(none)" : "(not printable)";
}

/**
 * Why the MongoDB rules are not loaded, from the error's causes:
 * `cannot read the rules: connect ECONNREFUSED 127.0.0.1:27017`.
 */
function reasonOf(error: unknown): string {
  const messages: string[] = [];
  let current: unknown = error;
  while (current instanceof Error && messages.length < 4) {
    messages.push(current.message.replace(/^acl_mongo: /, ""));
    current = current.cause;
  }
  if (messages.length === 0) return String(error);
  // The first says "no acl rules loaded"; its causes say why.
  return (messages.length > 1 ? messages.slice(1) : messages).join(": ");
}

/** Which conditions of `entry` fail for `request`, each tested on its own. */
function failedConditions(entry: AclEntry, request: AuthzRequest): string[] {
  const match: AclMatch = entry.match ?? {};
  const conditions: Array<{ name: string; match: AclMatch; pattern: string }> = [];
  for (const field of FIELDS) {
    const pattern = match[field];
    if (pattern === undefined) continue;
    const sub: Record<string, string> = { [field]: pattern };
    for (const source of captureSources(pattern)) {
      const value = match[source as (typeof FIELDS)[number]];
      if (value !== undefined) sub[source] = value;
    }
    conditions.push({ name: field, match: sub, pattern });
  }
  if (match.ip !== undefined)
    conditions.push({ name: "ip", match: { ip: match.ip }, pattern: match.ip });
  for (const [key, pattern] of Object.entries(match.labels ?? {})) {
    const sub: Record<string, unknown> = { labels: { [key]: pattern } };
    for (const source of captureSources(pattern)) {
      const value = match[source as (typeof FIELDS)[number]];
      if (value !== undefined) sub[source] = value;
    }
    conditions.push({ name: `labels.${key}`, match: sub as AclMatch, pattern });
  }
  const failed: string[] = [];
  for (const condition of conditions) {
    let holds: boolean;
    try {
      const probe = createAclAuthorizer({ acl: [{ match: condition.match, actions: ["*"] }] });
      holds = probe.explain(request).entryIndex !== undefined;
    } catch {
      continue;
    }
    if (!holds) {
      failed.push(
        `${condition.name}: ${actual(condition.name, request)} does not match ${JSON.stringify(condition.pattern)}`,
      );
    }
  }
  // Each condition holds alone but not together: placeholders tie them.
  if (failed.length === 0)
    failed.push("the conditions hold one by one but not together (placeholders)");
  return failed;
}

/**
 * Says, without credentials and without running any program, what a token
 * request would be granted under a config and why: for each scope, the
 * granted actions and the ACL entry (index and comment) that decided, or, when
 * none did, which conditions of each entry failed and who would decide next:
 * the MongoDB rules of `acl_mongo` (the rule that decided, by `seq` and
 * `_id`), then `ext_authz`. Uses the authorizers' `explain()`, so the answer
 * is the server's. With `acl_mongo`, await `built.aclMongo.ready()` first:
 * rules not loaded yet are reported as `unavailable`.
 *
 * @param config The loaded config (for `token.services`).
 * @param built What `createConfiguredHandler` made of it.
 * @param request See {@link ExplainRequest}.
 * @returns One {@link ScopeExplanation} per distinct scope, in request order.
 * @throws RegauthError `ERR_SCOPE_INVALID` for a malformed scope.
 *
 * @example
 * const result = explainAccess(config, built, {
 *   account: "alice", labels: { groups: ["dev"] }, scopes: ["repository:dev/app:pull,push"],
 * });
 * result[0].decision; // { by: "acl", entryIndex: 3, comment: "devs push to dev/*", ... }
 */
export function explainAccess(
  config: RegauthConfig,
  built: ConfiguredHandler,
  request: ExplainRequest,
): ScopeExplanation[] {
  const scopes = parseScopes(request.scopes);
  const service = request.service ?? config.token.services?.[0] ?? "";
  const hasExt = config.extAuthz !== undefined;
  const entries = config.acl ?? [];
  return scopes.map((scope) => {
    const authzRequest: AuthzRequest = {
      account: request.account,
      service,
      clientIp: request.ip,
      labels: request.labels ?? {},
      scope,
    };
    const text = formatScope(scope);
    const decided = built.acl?.explain(authzRequest);
    if (decided?.entryIndex !== undefined && decided.allowed !== undefined) {
      return {
        scope,
        text,
        granted: decided.granted,
        decision: {
          by: "acl",
          entryIndex: decided.entryIndex,
          comment: decided.comment,
          allowed: decided.allowed,
          placeholders: decided.placeholders,
        },
        misses: [],
        missesOmitted: 0,
        aclMongoRules: undefined,
      };
    }
    const misses = entries.slice(0, MAX_MISSES).map((entry, entryIndex) => ({
      entryIndex,
      comment: entry.comment,
      failed: failedConditions(entry, authzRequest),
    }));
    const missesOmitted = Math.max(0, entries.length - MAX_MISSES);
    let aclMongoRules: number | undefined;
    if (built.aclMongo) {
      let fromMongo: ReturnType<typeof built.aclMongo.explain>;
      try {
        fromMongo = built.aclMongo.explain(authzRequest);
      } catch (error) {
        return {
          scope,
          text,
          granted: [],
          decision: { by: "unavailable", authorizer: "acl_mongo", reason: reasonOf(error) },
          misses,
          missesOmitted,
          aclMongoRules: undefined,
        };
      }
      if (fromMongo.entryIndex !== undefined && fromMongo.allowed !== undefined) {
        return {
          scope,
          text,
          granted: fromMongo.granted,
          decision: {
            by: "acl_mongo",
            entryIndex: fromMongo.entryIndex,
            seq: fromMongo.seq,
            documentId: describeDocumentId(fromMongo.documentId),
            comment: fromMongo.comment,
            allowed: fromMongo.allowed,
            placeholders: fromMongo.placeholders,
          },
          misses,
          missesOmitted,
          aclMongoRules: undefined,
        };
      }
      aclMongoRules = built.aclMongo.status().rules;
    }
    return {
      scope,
      text,
      granted: hasExt ? [...scope.actions] : [],
      decision: hasExt ? { by: "ext_authz" } : { by: "none" },
      misses,
      missesOmitted,
      aclMongoRules,
    };
  });
}

/**
 * Renders {@link explainAccess}'s answer for a terminal, one block per scope.
 *
 * @example
 * console.log(formatExplanation({ account: "alice", scopes }, explainAccess(config, built, request)));
 */
export function formatExplanation(
  request: ExplainRequest,
  explanations: readonly ScopeExplanation[],
): string {
  const labels = Object.entries(request.labels ?? {})
    .map(([key, values]) => `${key}=[${values.join(", ")}]`)
    .join(" ");
  const who = [
    request.account === "" ? "anonymous" : `account ${JSON.stringify(request.account)}`,
    labels === "" ? "no labels" : `labels ${labels}`,
    request.ip === undefined ? "ip unknown" : `ip ${request.ip}`,
    request.service === undefined ? undefined : `service ${JSON.stringify(request.service)}`,
  ]
    .filter((part) => part !== undefined)
    .join(", ");
  const blocks = explanations.map((item) => {
    const lines = [item.text];
    const decision = item.decision;
    if (decision.by === "acl" || decision.by === "acl_mongo") {
      const granted = item.granted.length === 0 ? "nothing" : item.granted.join(", ");
      const allowed =
        decision.allowed.length === 0
          ? "an explicit deny: actions []"
          : decision.allowed.includes("*")
            ? 'allows everything: actions ["*"]'
            : `allows ${decision.allowed.join(", ")}`;
      const comment = decision.comment === undefined ? "" : ` "${decision.comment}"`;
      const who =
        decision.by === "acl"
          ? `acl[${decision.entryIndex}]`
          : `acl_mongo document _id ${decision.documentId}${decision.seq === undefined ? "" : ` (seq ${decision.seq})`}`;
      lines.push(`  granted  ${granted}`);
      lines.push(`  by       ${who}${comment}, ${allowed}`);
      for (const holder of decision.placeholders) {
        lines.push(
          `           ${holder.placeholder} in ${holder.field} was ${JSON.stringify(holder.value)}`,
        );
      }
      const refused = item.scope.actions.filter((action) => !item.granted.includes(action));
      if (refused.length > 0 && item.granted.length > 0) {
        lines.push(`           not granted: ${refused.join(", ")} (the entry does not allow them)`);
      }
      if (decision.by === "acl") return lines.join("\n");
      if (item.misses.length > 0) {
        lines.push("  before it, no acl entry matched:");
        pushMisses(lines, item);
      }
      return lines.join("\n");
    }
    if (decision.by === "unavailable") {
      lines.push("  granted  nothing: the server would answer 503");
      lines.push(`  by       acl_mongo, whose rules are not loaded: ${decision.reason}`);
      if (item.misses.length > 0) {
        lines.push("  before it, no acl entry matched:");
        pushMisses(lines, item);
      }
      return lines.join("\n");
    }
    if (decision.by === "ext_authz") {
      lines.push(
        "  granted  decided by ext_authz (explain does not run programs): all requested if it exits 0, nothing if 1",
      );
    } else {
      lines.push("  granted  nothing");
    }
    if (item.misses.length === 0) {
      if (item.aclMongoRules === undefined) lines.push("  no acl entries to match");
    } else {
      lines.push("  no acl entry matched:");
      pushMisses(lines, item);
    }
    if (item.aclMongoRules !== undefined) {
      lines.push(`  no acl_mongo rule matched (${item.aclMongoRules} rules loaded)`);
    }
    if (decision.by === "none") {
      lines.push("  no other authorizer decides, so the scope gets no actions");
    }
    return lines.join("\n");
  });
  return [who, ...blocks].join("\n\n");
}

/** Appends why each static ACL entry did not match. */
function pushMisses(lines: string[], item: ScopeExplanation): void {
  for (const miss of item.misses) {
    const head = `    acl[${miss.entryIndex}]${miss.comment === undefined ? "" : ` "${miss.comment}"`}`;
    lines.push(`${head}: ${miss.failed.join("; ")}`);
  }
  if (item.missesOmitted > 0) lines.push(`    ... and ${item.missesOmitted} more entries`);
}
