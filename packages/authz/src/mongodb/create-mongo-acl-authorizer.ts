import {
  type Authorizer,
  type AuthzRequest,
  type AuthzResult,
  isRegauthError,
  parseOptions,
  RegauthError,
} from "@regauth/core";
import {
  describeMongoId as describeId,
  type MongoBackendOptions,
  mongoBackendSchema,
  openMongoConnection,
  withTimeout,
} from "@regauth/core/mongodb";
import { z } from "zod";
import { type AclEntry, aclEntrySchema } from "../acl-schema.js";
import type { AclAuthorizer, AclDecision } from "../create-acl-authorizer.js";
import { compileAcl } from "../internal/acl-engine.js";

/**
 * Options of {@link createMongoAclAuthorizer}.
 *
 * Where the rules are (give `uri` or `client`, not both):
 * - `uri`: a `mongodb://` or `mongodb+srv://` connection string. The
 *   authorizer opens its own client on it and closes it in `close()`. It may
 *   hold credentials: it is never logged nor put in an error message.
 * - `client`: a `MongoClient` the service already has, used as is and never
 *   closed by the authorizer.
 * - `clientOptions`: `MongoClientOptions` for the client opened from `uri`.
 *   Not allowed with `client`.
 * - `database`: the database name. Required.
 * - `collection`: the rules collection. Default `"acl"`.
 *
 * Behaviour:
 * - `cacheTtl`: seconds between two loads of the rules (docker_auth's
 *   `cache_ttl`), counted from the end of the previous load, `reload()`
 *   included. From 0.1 to 86400. Default `60`.
 * - `timeoutMs`: how long one load may take, in milliseconds. Default `5000`.
 *   Also the server selection and connect timeouts of a client opened from `uri`.
 * - `name`: how logs, errors and `explain` name this authorizer. Default `"mongodb-acl"`.
 * - `logger`: a pino-shaped logger: failed loads (with the reason: the
 *   document `_id` and field of a bad rule, or the database error) at `warn`
 *   when the previous rules stay in force, at `error` when there are none;
 *   loads at `info`/`debug`. Default: silent.
 */
export interface MongoAclAuthorizerOptions extends MongoBackendOptions {
  readonly cacheTtl?: number | undefined;
}

/**
 * An {@link AclDecision} of the MongoDB ACL, with the deciding document:
 * `documentId` is its `_id` and `seq` its `seq` (both `undefined` when no
 * rule matched). `entryIndex` is the rule's position in `seq` order.
 */
export interface MongoAclDecision extends AclDecision {
  readonly documentId: unknown;
  readonly seq: number | undefined;
}

/**
 * Where the rules stand.
 *
 * - `loadedAt`: when the rules in force were read; `undefined` while none
 *   could be (then `authorize` throws).
 * - `rules`: how many rules are in force (`0` when none are loaded).
 * - `lastError`: why the most recent load failed (`ERR_CONFIG_INVALID` for a
 *   bad document, `ERR_BACKEND_UNAVAILABLE` for the database); `undefined`
 *   when it worked.
 */
export interface MongoAclStatus {
  readonly loadedAt: Date | undefined;
  readonly rules: number;
  readonly lastError: RegauthError | undefined;
}

/** What {@link MongoAclAuthorizer.reload} loaded: the number of rules and when. */
export interface MongoAclLoad {
  readonly rules: number;
  readonly loadedAt: Date;
}

/**
 * The MongoDB ACL authorizer.
 *
 * - `authorize(request)`: as the static ACL, with the rules last loaded.
 * - `explain(request)`: the decision and the document that made it; see
 *   {@link MongoAclDecision}. Throws `ERR_BACKEND_UNAVAILABLE` while no rules
 *   are loaded.
 * - `reload()`: reads the rules now (after any load already running, so a
 *   rule written before the call is seen) and puts them in force. Resolves
 *   with {@link MongoAclLoad}; rejects with `ERR_CONFIG_INVALID` (a bad
 *   document, named by `_id` and field) or `ERR_BACKEND_UNAVAILABLE` (the
 *   database), and then the rules in force stay as they were.
 * - `ready()`: resolves once some rules are in force; otherwise waits for the
 *   load running (or starts one) and rejects with its error, as `reload()`
 *   does. Call it at start-up to fail fast.
 * - `status()`: see {@link MongoAclStatus}.
 * - `close()`: stops the reload timer and closes the client opened from
 *   `uri` (a `client` passed in is left open). Afterwards `authorize` throws
 *   `ERR_BACKEND_UNAVAILABLE`.
 */
export interface MongoAclAuthorizer extends Authorizer {
  readonly name: string;
  explain(request: AuthzRequest): MongoAclDecision;
  reload(): Promise<MongoAclLoad>;
  ready(): Promise<void>;
  status(): MongoAclStatus;
  close(): Promise<void>;
}

/** A rule document as stored: an ACL entry plus `seq` (and `_id`). */
interface RuleDocument {
  _id?: unknown;
  seq?: unknown;
  [field: string]: unknown;
}

/** A set of rules that loaded and compiled: what `authorize` uses. */
interface Snapshot {
  readonly engine: AclAuthorizer;
  readonly ids: readonly unknown[];
  readonly seqs: readonly number[];
  readonly loadedAt: Date;
}

const optionsSchema = mongoBackendSchema(
  { collection: "acl", name: "mongodb-acl" },
  {
    cacheTtl: z
      .number({ error: "expected a number of seconds" })
      .min(0.1, { error: "expected at least 0.1 seconds" })
      .max(86_400, { error: "expected at most 86400 seconds" })
      .default(60),
  },
);

/** While no rules are in force, a request starts a load at most this often (milliseconds). */
const RETRY_WITHOUT_RULES_MS = 1_000;

/** How many bad documents one error message names. */
const MAX_REPORTED = 5;

/**
 * Creates an authorizer whose rules are documents of a MongoDB collection, as
 * docker_auth's `acl_mongo` (protocol.md §4). A document is one static ACL
 * entry plus its position:
 *
 * ```js
 * { seq: 10, match: { account: "ci", name: "builds/*" }, actions: ["pull", "push"], comment: "ci pushes builds" }
 * ```
 *
 * - Rules are ordered by `seq` (ascending, whatever the insertion order); the
 *   first whose `match` holds decides, exactly as {@link AclEntry} entries of
 *   `createAclAuthorizer` (same schema, same engine, same regular expression
 *   and glob rules). Equal `seq` values are ordered by `_id` and logged as a
 *   warning.
 * - Every document is checked with the static ACL's schema: `seq` must be a
 *   number and every other field except `_id` must be an ACL entry field
 *   (unknown fields are refused, never ignored). One bad document fails the
 *   whole load, with its `_id` and field: `acl document _id
 *   ObjectId("..."): match.nmae: unknown key`. The rules already in force
 *   stay in force.
 * - The rules are read when the authorizer is created, then every `cacheTtl`
 *   seconds, and on `reload()`. A failed load keeps the last good rules and
 *   is logged; the next one is tried `cacheTtl` seconds later.
 * - Until a load has succeeded, `authorize` waits for the load running (or
 *   starts one, at most once a second) and throws `ERR_BACKEND_UNAVAILABLE`
 *   (HTTP 503) if it fails: never a grant, never a silent deny.
 *
 * @param options See {@link MongoAclAuthorizerOptions}.
 * @throws RegauthError `ERR_CONFIG_INVALID` at construction naming the bad
 *   option (`cacheTtl: expected at least 0.1 seconds`, `uri: required: give
 *   uri or client`, ...); never echoes the URI. `authorize` throws
 *   `ERR_BACKEND_UNAVAILABLE` while no rules are loaded (its `cause` says
 *   why) or after `close()`, and `ERR_INTERNAL` like the static ACL if a
 *   regular expression with placeholders stops compiling with a request's values.
 *
 * @example
 * const authorizer = createMongoAclAuthorizer({
 *   uri: process.env.MONGODB_URI,
 *   database: "registry_auth",
 *   collection: "acl",
 *   cacheTtl: 60,
 *   logger: pino(),
 * });
 * await authorizer.ready(); // optional: fail at start-up if the rules cannot be read
 * // later, after inserting { seq: 5, match: { account: "bob" }, actions: ["pull"] }:
 * await authorizer.reload(); // in force now rather than within 60 s
 */
export function createMongoAclAuthorizer(options: MongoAclAuthorizerOptions): MongoAclAuthorizer {
  const config = parseOptions(optionsSchema, options);
  const connection = openMongoConnection(config);
  const rules = connection.collection<RuleDocument>(config.collection);
  const log = config.logger;
  const where = { authorizer: config.name, collection: config.collection };

  let current: Snapshot | undefined;
  let lastError: RegauthError | undefined;
  let lastAttemptAt = 0;
  let inflight: Promise<Snapshot> | undefined;
  let queued: Promise<Snapshot> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let reportedTies = "";
  const closedError = () => new RegauthError("ERR_BACKEND_UNAVAILABLE", `${config.name}: closed`);

  async function read(): Promise<Snapshot> {
    let documents: RuleDocument[];
    try {
      documents = await withTimeout(
        connection.run(() => rules.find({}, { maxTimeMS: config.timeoutMs }).toArray()),
        config.timeoutMs,
        "acl load",
      );
    } catch (error) {
      throw new RegauthError("ERR_BACKEND_UNAVAILABLE", `${config.name}: cannot read the rules`, {
        cause: error,
      });
    }
    const valid: { id: unknown; seq: number; entry: AclEntry }[] = [];
    const problems: string[] = [];
    for (const document of documents) {
      const { _id: id, seq, ...fields } = document;
      const label = `acl document _id ${describeId(id)}`;
      if (typeof seq !== "number" || !Number.isFinite(seq)) {
        problems.push(
          `${label}: seq: ${seq === undefined ? "required, expected a number" : "expected a number"}`,
        );
        continue;
      }
      try {
        valid.push({ id, seq, entry: parseOptions(aclEntrySchema, fields) });
      } catch (error) {
        problems.push(`${label}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    if (problems.length > 0) {
      const more =
        problems.length > MAX_REPORTED ? `; and ${problems.length - MAX_REPORTED} more` : "";
      throw new RegauthError(
        "ERR_CONFIG_INVALID",
        `${problems.slice(0, MAX_REPORTED).join("; ")}${more}`,
      );
    }
    const keys = valid.map((rule) => describeId(rule.id));
    const order = valid.map((_, position) => position);
    order.sort((a, b) => {
      const bySeq = (valid[a]?.seq ?? 0) - (valid[b]?.seq ?? 0);
      if (bySeq !== 0) return bySeq;
      const [x, y] = [keys[a] ?? "", keys[b] ?? ""];
      return x < y ? -1 : x > y ? 1 : 0;
    });
    reportTies(order.map((position) => valid[position]?.seq ?? 0));
    const sorted = order.map((position) => valid[position] as (typeof valid)[number]);
    const ids = sorted.map((rule) => rule.id);
    const engine = compileAcl(
      sorted.map((rule) => rule.entry),
      config.name,
      (position) => `acl document _id ${describeId(ids[position])}`,
    );
    return {
      engine,
      ids,
      seqs: sorted.map((rule) => rule.seq),
      loadedAt: new Date(),
    };
  }

  /** Warns about equal `seq` values, once per distinct set. */
  function reportTies(seqs: readonly number[]): void {
    const tied = [...new Set(seqs.filter((seq, index) => index > 0 && seqs[index - 1] === seq))];
    const key = tied.join(",");
    if (key !== "" && key !== reportedTies) {
      log.warn(
        { ...where, seqs: tied },
        "several acl documents share a seq; they are ordered by _id: give each its own seq",
      );
    }
    reportedTies = key;
  }

  function schedule(): void {
    clearTimeout(timer);
    if (closed) return;
    timer = setTimeout(() => {
      freshLoad().catch(() => {
        // logged by load()
      });
    }, config.cacheTtl * 1000);
    timer.unref();
  }

  function load(): Promise<Snapshot> {
    lastAttemptAt = Date.now();
    const started = performance.now();
    const attempt = read().then(
      (snapshot) => {
        if (closed) return snapshot;
        const previous = current;
        const recovered = previous === undefined || lastError !== undefined;
        current = snapshot;
        lastError = undefined;
        const fields = {
          ...where,
          rules: snapshot.ids.length,
          ms: Math.round(performance.now() - started),
        };
        if (recovered) log.info(fields, "acl rules loaded");
        else log.debug(fields, "acl rules reloaded");
        if (snapshot.ids.length === 0 && (previous?.ids.length ?? 1) > 0) {
          log.warn(where, "the acl collection holds no rules: every request gets no-match");
        }
        return snapshot;
      },
      (error: unknown) => {
        const failure = isRegauthError(error)
          ? error
          : new RegauthError("ERR_INTERNAL", `${config.name}: load failed`, { cause: error });
        if (!closed) {
          lastError = failure;
          const reason = describeFailure(failure);
          if (current === undefined) {
            log.error(
              { ...where, reason, err: failure },
              "acl rules cannot be loaded; no rules in force",
            );
          } else {
            log.warn(
              { ...where, reason, err: failure, inForceSince: current.loadedAt.toISOString() },
              "acl reload failed; the rules loaded before stay in force",
            );
          }
        }
        throw failure;
      },
    );
    const tracked = attempt.finally(() => {
      if (inflight === tracked) inflight = undefined;
      schedule();
    });
    inflight = tracked;
    // A load nobody awaits (the first one, the timer's) must not be an unhandled rejection.
    tracked.catch(() => {});
    return tracked;
  }

  /** A load that starts after the one running, if any: it sees every write made before the call. */
  function freshLoad(): Promise<Snapshot> {
    if (inflight === undefined) return load();
    queued ??= inflight
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        queued = undefined;
        if (closed) throw closedError();
        return load();
      });
    return queued;
  }

  async function rulesInForce(): Promise<Snapshot> {
    if (closed) throw closedError();
    if (current !== undefined) return current;
    let attempt = inflight;
    if (attempt === undefined && Date.now() - lastAttemptAt >= RETRY_WITHOUT_RULES_MS) {
      attempt = load();
    }
    try {
      if (attempt !== undefined) return await attempt;
    } catch {
      // reported below, with the reason as cause
    }
    throw new RegauthError("ERR_BACKEND_UNAVAILABLE", `${config.name}: no acl rules loaded`, {
      cause: lastError,
    });
  }

  load();

  return Object.freeze({
    name: config.name,
    async authorize(request: AuthzRequest): Promise<AuthzResult> {
      const snapshot = await rulesInForce();
      return snapshot.engine.authorize(request);
    },
    explain(request: AuthzRequest): MongoAclDecision {
      if (closed || current === undefined) {
        throw new RegauthError(
          "ERR_BACKEND_UNAVAILABLE",
          `${config.name}: ${closed ? "closed" : "no acl rules loaded"}`,
          { cause: lastError },
        );
      }
      const decision = current.engine.explain(request);
      const position = decision.entryIndex;
      return {
        ...decision,
        documentId: position === undefined ? undefined : current.ids[position],
        seq: position === undefined ? undefined : current.seqs[position],
      };
    },
    async reload(): Promise<MongoAclLoad> {
      if (closed) throw closedError();
      const snapshot = await freshLoad();
      return { rules: snapshot.ids.length, loadedAt: snapshot.loadedAt };
    },
    async ready(): Promise<void> {
      if (closed) throw closedError();
      if (current === undefined) await (inflight ?? load());
    },
    status(): MongoAclStatus {
      return {
        loadedAt: current?.loadedAt,
        rules: current?.ids.length ?? 0,
        lastError,
      };
    },
    async close(): Promise<void> {
      closed = true;
      clearTimeout(timer);
      await Promise.allSettled([inflight, queued]);
      clearTimeout(timer);
      await connection.close();
    },
  });
}

/** The reason of a failed load for the log: the message, and the driver's for a database fault. */
function describeFailure(error: RegauthError): string {
  const cause = error.cause;
  return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
}
