/**
 * `@regauth/core/mongodb`: the MongoDB connection handling shared by
 * regauth's MongoDB backends (`@regauth/authn/mongodb`,
 * `@regauth/authz/mongodb`), for authors of such backends. Services use the
 * backends; they need nothing from here. Needs the `mongodb` driver (an
 * optional peer dependency); `@regauth/core` itself never loads it.
 *
 * @packageDocumentation
 */
export {
  DEFAULT_MONGO_TIMEOUT_MS,
  describeMongoId,
  type MongoBackendOptions,
  type MongoConnection,
  type MongoConnectionOptions,
  mongoBackendSchema,
  openMongoConnection,
  withTimeout,
} from "./connection.js";
