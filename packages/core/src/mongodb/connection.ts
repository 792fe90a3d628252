import { type Collection, type Document, MongoClient, type MongoClientOptions } from "mongodb";
import { z } from "zod";
import { RegauthError } from "../errors.js";
import { type Logger, silentLogger } from "../logger.js";

/** Default of `timeoutMs`: how long one database operation may take, in milliseconds. */
export const DEFAULT_MONGO_TIMEOUT_MS = 5_000;

const URI = /^mongodb(\+srv)?:\/\/\S+$/;

/**
 * Where a MongoDB backend's data is, and how long it may wait for it: the
 * connection options every regauth MongoDB backend takes
 * (`createMongoAuthenticator` in `@regauth/authn/mongodb`,
 * `createMongoAclAuthorizer` in `@regauth/authz/mongodb`). Give `uri` or
 * `client`, not both.
 */
export interface MongoConnectionOptions {
  /**
   * A `mongodb://` or `mongodb+srv://` connection string. The backend opens
   * its own client on it (lazily: the driver connects on the first
   * operation) and closes it in its `close()`. It may hold credentials: it is
   * never logged nor put in an error message.
   */
  readonly uri?: string | undefined;
  /** A `MongoClient` the service already has: used as is, never closed by the backend. */
  readonly client?: MongoClient | undefined;
  /** `MongoClientOptions` for the client opened from `uri` (TLS files, pool size...). Not allowed with `client`. */
  readonly clientOptions?: MongoClientOptions | undefined;
  /** The database name. Required. */
  readonly database: string;
  /**
   * How long one database operation may take, in milliseconds, before the
   * request fails (503). From 1 to 600000. Default `5000`. Also the server
   * selection and connect timeouts of a client opened from `uri`.
   */
  readonly timeoutMs?: number | undefined;
}

/**
 * The options a regauth MongoDB backend shares beyond the connection: the
 * collection it reads, its name and its logger. Each backend has its own
 * defaults for `collection` and `name`.
 */
export interface MongoBackendOptions extends MongoConnectionOptions {
  /** The collection the backend reads. */
  readonly collection?: string | undefined;
  /** How logs and errors name the backend. */
  readonly name?: string | undefined;
  /** A pino-shaped logger. Default: silent. */
  readonly logger?: Logger | undefined;
}

/** Duck-typed so that a service's own copy of the driver is accepted too. */
function isClient(value: unknown): value is MongoClient {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { db?: unknown }).db === "function" &&
    typeof (value as { close?: unknown }).close === "function"
  );
}

const connectionShape = {
  uri: z
    .string({ error: "expected a string" })
    .regex(URI, { error: "expected a mongodb:// or mongodb+srv:// connection string" })
    .optional(),
  client: z.custom<MongoClient>(isClient, { error: "expected a MongoClient" }).optional(),
  clientOptions: z
    .record(z.string(), z.unknown(), { error: "expected an object of MongoClient options" })
    .optional(),
  database: z.string({ error: "required, expected a database name" }).min(1, {
    error: "expected a database name",
  }),
  timeoutMs: z
    .number({ error: "expected a number of milliseconds" })
    .int({ error: "expected a whole number of milliseconds" })
    .min(1, { error: "expected at least 1 ms" })
    .max(600_000, { error: "expected at most 600000 ms" })
    .default(DEFAULT_MONGO_TIMEOUT_MS),
};

const loggerSchema = z
  .custom<Logger>(
    (value) =>
      typeof value === "object" &&
      value !== null &&
      ["debug", "info", "warn", "error"].every(
        (method) => typeof (value as Record<string, unknown>)[method] === "function",
      ),
    { error: "expected a logger with debug, info, warn and error" },
  )
  .default(silentLogger);

/** Checks what zod cannot express field by field: exactly one of `uri` and `client`. */
function refineConnection(
  options: { uri?: unknown; client?: unknown; clientOptions?: unknown },
  context: z.RefinementCtx,
): void {
  if (options.uri === undefined && options.client === undefined) {
    context.addIssue({ code: "custom", path: ["uri"], message: "required: give uri or client" });
  }
  if (options.uri !== undefined && options.client !== undefined) {
    context.addIssue({ code: "custom", path: ["client"], message: "give uri or client, not both" });
  }
  if (options.client !== undefined && options.clientOptions !== undefined) {
    context.addIssue({
      code: "custom",
      path: ["clientOptions"],
      message: "only used with uri; configure the client you pass instead",
    });
  }
}

/**
 * The zod schema of a MongoDB backend's options, for `parseOptions`: the
 * fields of {@link MongoBackendOptions} (with `collection` and `name`
 * defaulting to `defaults`, `timeoutMs` to 5000 and `logger` to a silent one)
 * plus the backend's own `shape`. Unknown keys are refused, and exactly one of
 * `uri` and `client` is required (`clientOptions` only with `uri`). Error
 * messages never echo the URI.
 *
 * A helper for backend authors; services pass options to the backends.
 *
 * @example
 * const optionsSchema = mongoBackendSchema(
 *   { collection: "users", name: "mongodb" },
 *   { createIndex: z.boolean({ error: "expected a boolean" }).default(true) },
 * );
 * const config = parseOptions(optionsSchema, options); // throws ERR_CONFIG_INVALID
 * const connection = openMongoConnection(config);
 */
export function mongoBackendSchema<Shape extends z.ZodRawShape>(
  defaults: { readonly collection: string; readonly name: string },
  shape: Shape,
) {
  return z
    .strictObject(
      {
        ...connectionShape,
        collection: z
          .string({ error: "expected a collection name" })
          .min(1, { error: "expected a collection name" })
          .default(defaults.collection),
        // The backend's fields between `collection` and `name`: the order issues are reported in.
        ...shape,
        name: z
          .string({ error: "expected a string" })
          .min(1, { error: "expected a non-empty name" })
          .default(defaults.name),
        logger: loggerSchema,
      },
      { error: "expected an options object with database and uri or client" },
    )
    .superRefine(refineConnection);
}

/** A collection and the means to release what was opened for it. */
export interface MongoConnection {
  /** The collection, on the caller's client or on the one opened from `uri`. */
  collection<T extends Document>(name: string): Collection<T>;
  /**
   * Runs `operation`, reconnecting once first if the driver says the client's
   * topology is closed: driver 7 leaves a client whose first connection failed
   * (the database was down at start-up) with a closed topology that refuses
   * every later operation until `connect()` is called again. A client closed
   * with `close()` fails differently (MongoNotConnectedError) and is not reopened.
   */
  run<T>(operation: () => Promise<T>): Promise<T>;
  /** Closes the client if it was opened from `uri`; a given client is left open. Idempotent. */
  close(): Promise<void>;
}

/**
 * Opens (lazily: the driver connects on the first operation) a client from
 * `uri` with `timeoutMs` as its server-selection and connect timeouts and
 * `appName: "regauth"` (`clientOptions` override these), or uses the
 * caller's client. Takes options already checked by {@link mongoBackendSchema}.
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` when the driver refuses the URI;
 *   the URI and the driver's message (which may quote it) are not repeated.
 */
export function openMongoConnection(options: {
  readonly uri?: string | undefined;
  readonly client?: MongoClient | undefined;
  readonly clientOptions?: Readonly<Record<string, unknown>> | undefined;
  readonly database: string;
  readonly timeoutMs: number;
}): MongoConnection {
  let client: MongoClient;
  let owned = false;
  if (options.client !== undefined) {
    client = options.client;
  } else {
    try {
      client = new MongoClient(options.uri ?? "", {
        serverSelectionTimeoutMS: options.timeoutMs,
        connectTimeoutMS: options.timeoutMs,
        appName: "regauth",
        ...(options.clientOptions as MongoClientOptions | undefined),
      });
    } catch (error) {
      const kind = error instanceof Error ? error.name : "error";
      throw new RegauthError(
        "ERR_CONFIG_INVALID",
        `uri: the MongoDB driver refused this connection string (${kind}; details withheld as they may quote credentials)`,
      );
    }
    owned = true;
  }
  const db = client.db(options.database);
  let closing: Promise<void> | undefined;
  return {
    collection: (name) => db.collection(name),
    async run(operation) {
      try {
        return await operation();
      } catch (error) {
        if (!(error instanceof Error) || error.name !== "MongoTopologyClosedError") throw error;
        await client.connect();
        return operation();
      }
    },
    close() {
      if (!owned) return Promise.resolve();
      closing ??= client.close();
      return closing;
    },
  };
}

/**
 * Settles like `operation`, or rejects after `ms` milliseconds with an
 * `Error` saying that `what` took longer: a bound on a request's wait that
 * holds even for a caller's client configured with long driver timeouts.
 * The operation itself is not cancelled.
 */
export function withTimeout<T>(operation: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([operation, expired]).finally(() => clearTimeout(timer));
}

/**
 * How a document's `_id` is named in messages and logs: `ObjectId("...")`,
 * `"alice"`, `42`; `(none)` when absent, `(not printable)` for other values.
 */
export function describeMongoId(id: unknown): string {
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
