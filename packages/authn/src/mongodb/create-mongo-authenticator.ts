import {
  type AccountLookup,
  type Authenticator,
  type AuthnRequest,
  type AuthnResult,
  type Labels,
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
import { BCRYPT_HASH, bcryptCost, checkBcryptUser, spendDecoy } from "../internal/bcrypt-users.js";

/**
 * Options of {@link createMongoAuthenticator}.
 *
 * Where the users are (give `uri` or `client`, not both):
 * - `uri`: a `mongodb://` or `mongodb+srv://` connection string. The
 *   authenticator opens its own client on it (lazily, at the first lookup)
 *   and closes it in `close()`. It may hold credentials: it is never logged
 *   nor put in an error message.
 * - `client`: a `MongoClient` the service already has. It is used as is and
 *   never closed by the authenticator.
 * - `clientOptions`: `MongoClientOptions` for the client opened from `uri`
 *   (TLS files, pool size...). Not allowed with `client`.
 * - `database`: the database name. Required.
 * - `collection`: the users collection. Default `"users"`.
 *
 * Behaviour:
 * - `createIndex`: create the unique index `{ username: 1 }` (named
 *   `username_1`, as docker_auth names it) before the first lookup. Default
 *   `true`. Set `false` when the account has no `createIndex` privilege or the
 *   index is managed elsewhere; duplicates are then still detected at lookup.
 * - `allowPasswordless`: let a user document WITHOUT a `password` field (or
 *   with `password: null`) in with ANY password. Default `false`: such a user
 *   is denied. docker_auth's `mongo_auth` lets them in; set `true` only to keep
 *   that behaviour on purpose.
 * - `timeoutMs`: how long one database operation may take, in milliseconds,
 *   before the request fails with 503. Default `5000`. Also the server
 *   selection and connect timeouts of a client opened from `uri`.
 * - `name`: for logs. Default `"mongodb"`.
 * - `logger`: a pino-shaped logger for malformed user documents and index
 *   problems. Default: silent. Passwords and hashes are never logged.
 */
export interface MongoAuthenticatorOptions extends MongoBackendOptions {
  readonly createIndex?: boolean | undefined;
  readonly allowPasswordless?: boolean | undefined;
}

/**
 * The MongoDB authenticator: an {@link Authenticator} with a readiness check
 * and a `close` that releases what it opened.
 *
 * - `lookup(...)`: a refresh token's account, checked without a password
 *   (allow with current labels, deny when it could no longer sign in,
 *   no-match when its document is gone).
 * - `ready()`: connects and, unless `createIndex: false`, makes sure the
 *   unique index exists. Resolves when the backend can serve; rejects with
 *   `ERR_BACKEND_UNAVAILABLE` otherwise. Optional: `authenticate` does the
 *   same on first use. Call it at start-up to fail fast.
 * - `close()`: closes the client opened from `uri` (a `client` passed in is
 *   left open). Afterwards `authenticate` throws `ERR_BACKEND_UNAVAILABLE`.
 */
export interface MongoAuthenticator extends Authenticator {
  readonly name: string;
  lookup(request: AccountLookup): Promise<AuthnResult>;
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** The stored user document, as far as the authenticator reads it. */
interface UserDocument {
  _id?: unknown;
  username?: unknown;
  password?: unknown;
  labels?: unknown;
}

const optionsSchema = mongoBackendSchema(
  { collection: "users", name: "mongodb" },
  {
    createIndex: z.boolean({ error: "expected a boolean" }).default(true),
    allowPasswordless: z.boolean({ error: "expected a boolean" }).default(false),
  },
);

const labelsSchema = z.record(
  z.string(),
  z.array(z.string({ error: "expected a string" }), { error: "expected an array of strings" }),
  { error: "expected an object of label names to arrays of strings" },
);

/**
 * A bcrypt hash of a random string nobody kept, at the default cost: what an
 * unknown account is checked against until a stored user of a higher cost is
 * seen (then that user's hash is used), so that an unknown account costs as
 * much as a wrong password.
 */
const INITIAL_DECOY = "$2b$10$JQVhgQ229LilPAruKSaMKOCToPl1fheItksv76DgYtHpR41jLtFxq";

/** After the server refused to build the index (duplicates, privileges), wait this long before trying again. */
const INDEX_RETRY_MS = 30_000;

/** The server kept an index on `username` that is not unique. */
class IndexNotUnique extends Error {
  constructor() {
    super("an index on username exists but is not unique: drop it, or set createIndex: false");
    this.name = "IndexNotUnique";
  }
}

/**
 * Authenticates against user documents in a MongoDB collection, as
 * docker_auth's `mongo_auth` (protocol.md §4). A user document is
 * `{ username: string, password: bcrypt hash, labels?: { key: [values] } }`;
 * other fields are ignored.
 *
 * - document found, right password: allow with its `labels` (`{}` when absent);
 * - document found, wrong password: deny (401, the chain stops);
 * - no document: no-match (the next authenticator is asked), after the same
 *   bcrypt work as a wrong password, so accounts cannot be listed by timing;
 * - document without `password` (absent or `null`): deny, after the same
 *   work, unless `allowPasswordless` (then allow, whatever the password).
 *   docker_auth always lets such a user in;
 * - document whose `password` is not a bcrypt hash (`$2a$`, `$2b$`, `$2y$`):
 *   deny, and a warning naming the document's `_id` is logged;
 * - anonymous request (account `""`): no-match, without a lookup.
 *
 * The lookup is `find({ username: account })`: the account is always a string,
 * never an operator object.
 *
 * @param options See {@link MongoAuthenticatorOptions}.
 * @throws RegauthError `ERR_CONFIG_INVALID` at construction naming the bad
 *   option (`database: required, expected a database name`, `uri: required:
 *   give uri or client`, ...); never echoes the URI.
 *   `authenticate` throws `ERR_BACKEND_UNAVAILABLE` (HTTP 503, never 401) when
 *   the database cannot be reached or answers an error, an operation takes
 *   longer than `timeoutMs`, the unique index cannot be created (its reason,
 *   such as duplicate usernames, is the error's `cause` and is logged), two
 *   documents share the username, or, once the password is right, the
 *   document's `labels` is not an object of string arrays (the `cause` names
 *   the `_id` and field).
 *
 * @example
 * const authenticator = createMongoAuthenticator({
 *   uri: process.env.MONGODB_URI, // mongodb://user:pass@db.internal:27017/?authSource=admin
 *   database: "registry_auth",
 *   collection: "users",
 * });
 * await authenticator.ready(); // optional: fail at start-up rather than at the first login
 * // insert a user: { username: "ci", password: await hashPassword("..."), labels: { groups: ["builders"] } }
 */
export function createMongoAuthenticator(options: MongoAuthenticatorOptions): MongoAuthenticator {
  const config = parseOptions(optionsSchema, options);
  const connection = openMongoConnection(config);
  const users = connection.collection<UserDocument>(config.collection);
  const log = config.logger;
  const where = { authenticator: config.name, collection: config.collection };
  let decoy = INITIAL_DECOY;
  let closed = false;
  let index: Promise<void> | undefined;
  let indexRefusedAt: number | undefined;

  const unavailable = (message: string, cause?: unknown) =>
    new RegauthError("ERR_BACKEND_UNAVAILABLE", `${config.name}: ${message}`, { cause });

  function ensureIndex(): Promise<void> {
    if (!config.createIndex) return Promise.resolve();
    if (indexRefusedAt !== undefined && Date.now() - indexRefusedAt >= INDEX_RETRY_MS) {
      index = undefined;
      indexRefusedAt = undefined;
    }
    index ??= withTimeout(createUniqueIndex(), config.timeoutMs, "createIndex").then(
      () => {
        log.info(where, "unique index on username is in place");
      },
      (error: unknown) => {
        // By name: a service's client may come from another copy of the driver.
        const refused =
          error instanceof IndexNotUnique ||
          (error instanceof Error && error.name === "MongoServerError");
        log.error(
          { ...where, err: error },
          refused
            ? "cannot create the unique index on username (duplicate usernames? no createIndex privilege? set createIndex: false to skip it)"
            : "cannot create the unique index on username: database unreachable",
        );
        if (refused) indexRefusedAt = Date.now();
        else index = undefined; // a network fault: the next request tries again
        throw unavailable("cannot create the unique index on username", error);
      },
    );
    return index;
  }

  /**
   * Creates the index, then checks that it is there and unique: a server may
   * keep an existing non-unique index of the same name without an error
   * (FerretDB 1.24 does; MongoDB answers IndexKeySpecsConflict).
   */
  async function createUniqueIndex(): Promise<void> {
    await connection.run(() =>
      users.createIndex({ username: 1 }, { unique: true, name: "username_1" }),
    );
    const indexes = await connection.run(() => users.listIndexes().toArray());
    const unique = indexes.some(
      (index) =>
        index.unique === true &&
        typeof index.key === "object" &&
        index.key !== null &&
        Object.keys(index.key).join() === "username",
    );
    if (!unique) throw new IndexNotUnique();
  }

  async function lookup(account: string): Promise<UserDocument[]> {
    if (closed) throw unavailable("closed");
    await ensureIndex();
    try {
      return await withTimeout(
        connection.run(() =>
          users
            .find(
              { username: account },
              { projection: { password: 1, labels: 1 }, limit: 2, maxTimeMS: config.timeoutMs },
            )
            .toArray(),
        ),
        config.timeoutMs,
        "user lookup",
      );
    } catch (error) {
      throw unavailable("user lookup failed", error);
    }
  }

  function labelsOf(document: UserDocument): Labels {
    if (document.labels === undefined || document.labels === null) return {};
    try {
      return parseOptions(labelsSchema, document.labels, ["labels"]);
    } catch (error) {
      const detail = `users document _id ${describeId(document._id)}: ${
        error instanceof Error ? error.message : String(error)
      }`;
      log.error({ ...where, id: describeId(document._id) }, detail);
      throw unavailable(
        "a user document is malformed",
        new RegauthError("ERR_CONFIG_INVALID", detail),
      );
    }
  }

  async function authenticate(request: AuthnRequest): Promise<AuthnResult> {
    if (request.account === "") return { result: "no-match" };
    const found = await lookup(request.account);
    if (found.length > 1) {
      log.error(where, "several user documents share one username; add the unique index");
      throw unavailable("several user documents share this username");
    }
    const document = found[0];
    if (document === undefined) return checkBcryptUser(undefined, request.password, decoy);
    const stored = document.password;
    if (stored === undefined || stored === null) {
      if (config.allowPasswordless) return { result: "allow", labels: labelsOf(document) };
      await spendDecoy(request.password, decoy);
      return { result: "deny" };
    }
    if (typeof stored !== "string" || !BCRYPT_HASH.test(stored)) {
      log.warn(
        { ...where, id: describeId(document._id) },
        "user document's password is not a bcrypt hash ($2a$, $2b$, $2y$); denied",
      );
      await spendDecoy(request.password, decoy);
      return { result: "deny" };
    }
    if (bcryptCost(stored) > bcryptCost(decoy)) decoy = stored;
    const result = await checkBcryptUser({ hash: stored, labels: {} }, request.password, decoy);
    // Labels are read only for a right password: a malformed document must not
    // tell someone guessing passwords (503 rather than 401) that the account exists.
    return result.result === "allow" ? { result: "allow", labels: labelsOf(document) } : result;
  }

  /**
   * A refresh token's account, checked without a password: allow with the
   * document's labels, deny when it could not sign in any more (no password
   * where one is required, or not a bcrypt hash), no-match when it is gone.
   */
  async function lookupAccount({ account }: AccountLookup): Promise<AuthnResult> {
    if (account === "") return { result: "no-match" };
    const found = await lookup(account);
    if (found.length > 1) {
      log.error(where, "several user documents share one username; add the unique index");
      throw unavailable("several user documents share this username");
    }
    const document = found[0];
    if (document === undefined) return { result: "no-match" };
    const stored = document.password;
    const signsIn =
      stored === undefined || stored === null
        ? config.allowPasswordless
        : typeof stored === "string" && BCRYPT_HASH.test(stored);
    return signsIn ? { result: "allow", labels: labelsOf(document) } : { result: "deny" };
  }

  return Object.freeze({
    name: config.name,
    authenticate,
    lookup: lookupAccount,
    async ready() {
      if (closed) throw unavailable("closed");
      if (config.createIndex) {
        await ensureIndex();
        return;
      }
      try {
        await withTimeout(
          connection.run(() => users.findOne({}, { projection: { _id: 1 } })),
          config.timeoutMs,
          "ping",
        );
      } catch (error) {
        throw unavailable("database unreachable", error);
      }
    },
    async close() {
      closed = true;
      await connection.close();
    },
  });
}
