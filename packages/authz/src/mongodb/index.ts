export {
  createMongoAclAuthorizer,
  type MongoAclAuthorizer,
  type MongoAclAuthorizerOptions,
  type MongoAclDecision,
  type MongoAclLoad,
  type MongoAclStatus,
} from "./create-mongo-acl-authorizer.js";
