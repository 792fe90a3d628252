export {
  createMongoAuthenticator,
  type MongoAuthenticator,
  type MongoAuthenticatorOptions,
} from "./create-mongo-authenticator.js";
