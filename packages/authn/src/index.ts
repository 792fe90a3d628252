export {
  createHtpasswdAuthenticator,
  type HtpasswdAuthenticatorOptions,
} from "./create-htpasswd-authenticator.js";
export {
  createStaticAuthenticator,
  type StaticAuthenticatorOptions,
  type StaticUser,
} from "./create-static-authenticator.js";
export { DEFAULT_BCRYPT_COST, hashPassword } from "./hash-password.js";
