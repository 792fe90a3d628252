export {
  createLdapAuthenticator,
  type LdapAuthenticator,
  type LdapAuthenticatorOptions,
  type LdapLabelMapping,
} from "./create-ldap-authenticator.js";
