export { type AclEntry, type AclMatch, aclSchema } from "./acl-schema.js";
export {
  type AclAuthorizer,
  type AclAuthorizerOptions,
  type AclDecision,
  type AclPlaceholderValue,
  createAclAuthorizer,
} from "./create-acl-authorizer.js";
