import { type Labels, parseOptions, RegauthError } from "@regauth/core";
import {
  type MongoBackendOptions,
  mongoBackendSchema,
  openMongoConnection,
  withTimeout,
} from "@regauth/core/mongodb";
import { z } from "zod";
import type { RegistryPasswordRecord, RegistryPasswordStore } from "./registry-password-store.js";

/** Default {@link MongoRegistryPasswordStoreOptions.collection}. */
export const DEFAULT_MONGO_PASSWORD_COLLECTION = "registry_passwords";
/** Default {@link MongoRegistryPasswordStoreOptions.timeoutMs}, in milliseconds. */
export const DEFAULT_MONGO_PASSWORD_TIMEOUT_MS = 2_000;

/**
 * Options of {@link createMongoRegistryPasswordStore}.
 *
 * Where the records are (give `uri` or `client`, not both):
 * - `uri`: a `mongodb://` or `mongodb+srv://` connection string. The store
 *   opens its own client on it (lazily, at the first call) and closes it in
 *   `close()`. It may hold credentials: it is never logged nor put in an
 *   error message.
 * - `client`: a `MongoClient` the service already has. It is used as is and
 *   never closed by the store.
 * - `clientOptions`: `MongoClientOptions` for the client opened from `uri`.
 *   Not allowed with `client`.
 * - `database`: the database name. Required.
 * - `collection`: the collection of records. Default `"registry_passwords"`.
 *
 * Behaviour:
 * - `createIndexes`: create, before the first call, the TTL index
 *   `{ expireAt: 1 }` (`expireAfterSeconds: 0`, named `expireAt_ttl`) and the
 *   account index `{ account: 1, issuedAt: 1 }` (named `account_issuedAt`).
 *   Default `true`. Set `false` when the account lacks the `createIndex`
 *   privilege or the indexes are managed elsewhere; expired records are then
 *   still never returned, only never deleted by the server. A server without
 *   TTL indexes (FerretDB 1.x answers `NotImplemented`) gets the account
 *   index only, a logged warning, and `save` deletes the expired records.
 * - `timeoutMs`: how long one store call may take, in milliseconds (1 to
 *   600 000), before it fails (and the token request with 503). Default
 *   `2000`. Also the server selection and connect timeouts of a client opened
 *   from `uri`.
 * - `name`: names the store in error messages. Default `"mongodb"`.
 * - `logger`: a pino-shaped logger for index problems (an error when an index
 *   cannot be created, a warning when the server has no TTL indexes).
 *   Default: silent.
 */
export interface MongoRegistryPasswordStoreOptions extends MongoBackendOptions {
  readonly createIndexes?: boolean | undefined;
}

/**
 * The MongoDB registry password store: a {@link RegistryPasswordStore} with
 * a readiness check and a `close` that releases what it opened.
 *
 * - `ready()`: connects and, unless `createIndexes: false`, makes sure the
 *   indexes exist. Rejects with `ERR_BACKEND_UNAVAILABLE` otherwise.
 *   Optional: the first store call does the same.
 * - `close()`: closes the client opened from `uri` (a `client` passed in is
 *   left open). Afterwards every call throws `ERR_BACKEND_UNAVAILABLE`.
 */
export interface MongoRegistryPasswordStore extends RegistryPasswordStore {
  ready(): Promise<void>;
  close(): Promise<void>;
}

/**
 * One record as stored: `_id` is the record's `id`; `expiresAt` (milliseconds
 * since the epoch) is what reads check; `expireAt` is the same instant as a
 * BSON date, for the TTL index. Labels are kept as a list of name and values,
 * so that any label name (with `.` or `$`) is a valid document.
 */
interface RecordDocument {
  _id: string;
  account: string;
  hash: string;
  labels: Array<{ name: string; values: string[] }>;
  subject: string;
  refreshToken?: string;
  issuedAt: number;
  expiresAt: number;
  checkedAt: number;
  expireAt: Date;
}

const optionsSchema = mongoBackendSchema(
  { collection: DEFAULT_MONGO_PASSWORD_COLLECTION, name: "mongodb" },
  {
    createIndexes: z.boolean({ error: "expected a boolean" }).default(true),
  },
);

/** After the server refused to build an index, wait this long before trying again. */
const INDEX_RETRY_MS = 30_000;

/** The server does not implement a command or option (code 238), as FerretDB 1.x for TTL indexes. */
function isNotImplemented(error: unknown): boolean {
  const { code, codeName } = (error ?? {}) as { code?: unknown; codeName?: unknown };
  return code === 238 || codeName === "NotImplemented";
}

function toLabelList(labels: Labels): RecordDocument["labels"] {
  return Object.entries(labels).map(([name, values]) => ({ name, values: [...values] }));
}

function toRecord(document: RecordDocument): RegistryPasswordRecord {
  const value = document as Partial<RecordDocument>;
  if (
    typeof value._id !== "string" ||
    typeof value.account !== "string" ||
    typeof value.hash !== "string" ||
    typeof value.subject !== "string" ||
    typeof value.issuedAt !== "number" ||
    typeof value.expiresAt !== "number" ||
    typeof value.checkedAt !== "number" ||
    !Array.isArray(value.labels) ||
    (value.refreshToken !== undefined &&
      value.refreshToken !== null &&
      typeof value.refreshToken !== "string")
  ) {
    throw new Error("malformed registry password record");
  }
  const labels: Record<string, string[]> = {};
  for (const entry of value.labels as unknown[]) {
    const { name, values } = (entry ?? {}) as { name?: unknown; values?: unknown };
    if (
      typeof name !== "string" ||
      !Array.isArray(values) ||
      !values.every((item) => typeof item === "string")
    ) {
      throw new Error("malformed registry password record labels");
    }
    labels[name] = values as string[];
  }
  return {
    id: value._id,
    account: value.account,
    hash: value.hash,
    labels,
    subject: value.subject,
    ...(typeof value.refreshToken === "string" ? { refreshToken: value.refreshToken } : {}),
    issuedAt: value.issuedAt,
    expiresAt: value.expiresAt,
    checkedAt: value.checkedAt,
  };
}

/**
 * A {@link RegistryPasswordStore} in a MongoDB collection, shared by every
 * instance: a password issued by one is accepted, re-checked or revoked by
 * another. One document per record, keyed by the record's `id` (`_id`), with
 * the account, the password's SHA-256 hash, the labels, the subject, the
 * sealed refresh token and the times. Same semantics as
 * `createRedisRegistryPasswordStore`:
 *
 * - `save` inserts or replaces the record;
 * - `list(account)` returns the account's live records (`expiresAt` later
 *   than now), oldest first;
 * - `update` changes a live record's labels, check time and (when given)
 *   refresh token, keeping its expiry; `false` when it is gone or expired, so
 *   a re-check never brings back a revoked record;
 * - `revoke` and `revokeAccount` delete, and count only the live records.
 *
 * Expiry: a TTL index on `expireAt` lets the server delete expired records,
 * but TTL deletion is lazy (MongoDB runs it about once a minute), so every
 * read and write also checks `expiresAt` against the clock. On a server
 * without TTL indexes (FerretDB 1.x) `save` deletes the expired records.
 *
 * @param options See {@link MongoRegistryPasswordStoreOptions}.
 * @throws RegauthError `ERR_CONFIG_INVALID` at construction for bad options
 *   (naming the option; never echoing the URI). Store calls throw
 *   `ERR_BACKEND_UNAVAILABLE` (the token request then ends with 503) when the
 *   database cannot be reached or answers an error, a call takes longer than
 *   `timeoutMs`, an index cannot be created, a stored document is malformed,
 *   or the store was closed.
 *
 * @example
 * const store = createMongoRegistryPasswordStore({
 *   uri: process.env.MONGODB_URI, // mongodb://user:pass@db.internal:27017/?authSource=admin
 *   database: "regauth",
 * });
 * await store.ready(); // optional: fail at start-up rather than at the first sign-in
 * const login = createOidcLogin({ ...options, store });
 */
export function createMongoRegistryPasswordStore(
  options: MongoRegistryPasswordStoreOptions,
): MongoRegistryPasswordStore {
  const config = parseOptions(optionsSchema, {
    ...options,
    timeoutMs: options.timeoutMs ?? DEFAULT_MONGO_PASSWORD_TIMEOUT_MS,
  });
  const connection = openMongoConnection(config);
  const records = connection.collection<RecordDocument>(config.collection);
  const log = config.logger;
  const where = { store: config.name, collection: config.collection };
  let closed = false;
  let indexes: Promise<void> | undefined;
  let indexRefusedAt: number | undefined;
  /** Set when the server refuses TTL indexes: `save` then deletes expired records itself. */
  let purgeOnSave = false;

  function ensureIndexes(): Promise<void> {
    if (!config.createIndexes) return Promise.resolve();
    if (indexRefusedAt !== undefined && Date.now() - indexRefusedAt >= INDEX_RETRY_MS) {
      indexes = undefined;
      indexRefusedAt = undefined;
    }
    indexes ??= createIndexes().then(
      () => undefined,
      (error: unknown) => {
        // By name: a service's client may come from another copy of the driver.
        const refused = error instanceof Error && error.name === "MongoServerError";
        log.error(
          { ...where, err: error },
          refused
            ? "cannot create the registry password indexes (no createIndex privilege? set createIndexes: false to skip them)"
            : "cannot create the registry password indexes: database unreachable",
        );
        if (refused) indexRefusedAt = Date.now();
        else indexes = undefined; // a network fault: the next call tries again
        throw error;
      },
    );
    return indexes;
  }

  async function createIndexes(): Promise<void> {
    await connection.run(() =>
      records.createIndex({ account: 1, issuedAt: 1 }, { name: "account_issuedAt" }),
    );
    try {
      await connection.run(() =>
        records.createIndex({ expireAt: 1 }, { name: "expireAt_ttl", expireAfterSeconds: 0 }),
      );
    } catch (error) {
      if (!isNotImplemented(error)) throw error;
      purgeOnSave = true;
      log.warn(
        { ...where, err: error },
        "the server has no TTL indexes (FerretDB 1.x): expired registry passwords are deleted at each save instead",
      );
    }
  }

  /** Runs `operation` after the indexes, bounded by `timeoutMs`; any failure is `ERR_BACKEND_UNAVAILABLE`. */
  async function call<T>(what: string, operation: () => Promise<T>): Promise<T> {
    try {
      if (closed) throw new Error("the store is closed");
      return await withTimeout(
        ensureIndexes().then(() => connection.run(operation)),
        config.timeoutMs,
        `registry password ${what}`,
      );
    } catch (error) {
      throw new RegauthError(
        "ERR_BACKEND_UNAVAILABLE",
        `registry password store (${config.name}) failed to ${what}`,
        { cause: error },
      );
    }
  }

  const maxTimeMS = config.timeoutMs;
  const live = () => ({ $gt: Date.now() });

  return Object.freeze({
    async save(record: RegistryPasswordRecord) {
      const document: RecordDocument = {
        _id: record.id,
        account: record.account,
        hash: record.hash,
        labels: toLabelList(record.labels),
        subject: record.subject,
        ...(record.refreshToken === undefined ? {} : { refreshToken: record.refreshToken }),
        issuedAt: record.issuedAt,
        expiresAt: record.expiresAt,
        checkedAt: record.checkedAt,
        expireAt: new Date(record.expiresAt),
      };
      await call("save", async () => {
        await records.replaceOne({ _id: record.id }, document, { upsert: true });
        if (purgeOnSave) await records.deleteMany({ expiresAt: { $lte: Date.now() } });
      });
    },
    async list(account: string) {
      return call("read", async () => {
        const found = await records
          .find({ account, expiresAt: live() }, { maxTimeMS })
          .sort({ issuedAt: 1, _id: 1 })
          .toArray();
        return found.map(toRecord);
      });
    },
    async update(id, changes) {
      return call("update", async () => {
        const set: Partial<RecordDocument> = {
          labels: toLabelList(changes.labels),
          checkedAt: changes.checkedAt,
          ...(changes.refreshToken === undefined ? {} : { refreshToken: changes.refreshToken }),
        };
        const result = await records.updateOne({ _id: id, expiresAt: live() }, { $set: set });
        return result.matchedCount > 0;
      });
    },
    async revoke(id) {
      return call("revoke", async () => {
        const now = Date.now();
        const gone = await records.findOneAndDelete({ _id: id }, { maxTimeMS });
        return gone !== null && typeof gone.expiresAt === "number" && gone.expiresAt > now;
      });
    },
    async revokeAccount(account) {
      return call("revoke", async () => {
        const now = Date.now();
        const { deletedCount } = await records.deleteMany({ account, expiresAt: { $gt: now } });
        // Expired records the TTL monitor has not removed yet: deleted, not counted.
        await records.deleteMany({ account, expiresAt: { $lte: now } });
        return deletedCount;
      });
    },
    async ready() {
      await call("connect", async () => {
        await records.findOne({}, { projection: { _id: 1 }, maxTimeMS });
      });
    },
    async close() {
      closed = true;
      await connection.close();
    },
  } satisfies MongoRegistryPasswordStore);
}
