// The cases of the speed bench and their token handlers. Both processes (the
// in-process loop and the HTTP server) build the same handlers from one
// BenchSetup.
import { createStaticAuthenticator } from "@regauth/authn";
import { createLdapAuthenticator } from "@regauth/authn/ldap";
import { createMongoAuthenticator } from "@regauth/authn/mongodb";
import { type AclEntry, createAclAuthorizer } from "@regauth/authz";
import {
  type Authenticator,
  createTokenEndpoint,
  createTokenHandler,
  type TokenEndpoint,
  type TokenHandler,
  type TokenHandlerOptions,
} from "@regauth/core";
import { createTokenIssuer } from "@regauth/token";
import { type BenchSetup, STATIC_PASSWORD } from "./backends.js";

export const SERVICE = "bench-registry";
/** One scope per request, as `docker pull library/app` asks. */
export const QUERY = `service=${SERVICE}&scope=repository:library/app:pull`;

/** The one entry of the small ACL: matches every request of the bench. */
const LAST_ENTRY: AclEntry = {
  match: { name: "library/*" },
  actions: ["pull"],
  comment: "the entry that matches",
};
const ACL_SIZE = 10_000;

/**
 * 9,999 per-user entries with literal accounts (the common docker_auth
 * shape, which the ACL index prefilters), then the matching entry.
 */
function literalAcl(): AclEntry[] {
  const acl: AclEntry[] = [];
  for (let i = 0; i < ACL_SIZE - 1; i++) {
    acl.push({ match: { account: `user${i}`, name: `team${i}/*` }, actions: ["pull", "push"] });
  }
  acl.push(LAST_ENTRY);
  return acl;
}

/**
 * 9,999 entries whose account is a glob, so no index can skip them: every
 * request tests all of them before the matching entry (the worst case).
 */
function globAcl(): AclEntry[] {
  const acl: AclEntry[] = [];
  for (let i = 0; i < ACL_SIZE - 1; i++) {
    acl.push({ match: { account: `ci-${i}-*`, name: `team${i}/*` }, actions: ["pull", "push"] });
  }
  acl.push(LAST_ENTRY);
  return acl;
}

/** A row of the table. */
export interface CaseSpec {
  /** Path segment on the HTTP server: `/<id>/auth`. */
  readonly id: string;
  readonly label: string;
  /** Which backend it needs (`n/a` when that one is missing). */
  readonly backend?: "ldap" | "mongo";
  /**
   * In process, call the Web handler (`Request` in, `Response` read back)
   * instead of the endpoint; such a row has no HTTP figures (over HTTP the
   * adapter calls the endpoint either way).
   */
  readonly web?: true;
  /**
   * Over HTTP only, and no handler: the bench server answers with a fixed
   * body the size of a token answer, straight from node:http (`res.end`),
   * the most a token endpoint behind node:http could do on this machine.
   */
  readonly httpFloor?: true;
}

export const CASES: readonly CaseSpec[] = [
  {
    id: "http-floor",
    label: "HTTP floor: node:http res.end of a fixed token answer",
    httpFloor: true,
  },
  { id: "anonymous", label: "anonymous (no credentials), 1-entry ACL" },
  { id: "static-returning", label: "static user, returning (cache hit), 1-entry ACL" },
  {
    id: "static-returning-web",
    label: "  same, as Web Request/Response (createTokenHandler)",
    web: true,
  },
  { id: "static-first", label: "static user, first contact (cache off: bcrypt 10)" },
  { id: "acl-10k", label: "returning static, 10,000-entry ACL, match last" },
  { id: "acl-10k-glob", label: "  same, no entry indexable (glob accounts)" },
  { id: "ldap-returning", label: "LDAP user, returning (cache hit)", backend: "ldap" },
  { id: "ldap-first", label: "LDAP user, first contact (cache off: search+bind)", backend: "ldap" },
  { id: "mongo-returning", label: "MongoDB user, returning (cache hit)", backend: "mongo" },
  {
    id: "mongo-first",
    label: "MongoDB user, first contact (cache off: find+bcrypt)",
    backend: "mongo",
  },
];

/** A body the size and shape of a token answer (one scope, ES256), for the HTTP floor. */
export const FLOOR_BODY = JSON.stringify({
  token: "t".repeat(560),
  access_token: "t".repeat(560),
  expires_in: 300,
  issued_at: "2026-01-01T00:00:00Z",
});

function basic(account: string, password: string): string {
  return `Basic ${Buffer.from(`${account}:${password}`).toString("base64")}`;
}

/**
 * The handlers of one process, by case id, and the Authorization header each
 * case sends: each case's Web handler (`createTokenHandler`, what the HTTP
 * server mounts with `toNodeListener`) and its transport-neutral endpoint
 * (`createTokenEndpoint`, what that adapter calls), built from one set of
 * options.
 */
export interface BuiltCases {
  readonly handlers: ReadonlyMap<string, TokenHandler>;
  readonly endpoints: ReadonlyMap<string, TokenEndpoint>;
  readonly authorization: ReadonlyMap<string, string>;
  close(): Promise<void>;
}

/** Builds the handler of every case whose backend is available. */
export async function buildCases(setup: BenchSetup): Promise<BuiltCases> {
  const issuer = createTokenIssuer({ issuer: "bench", privateKey: setup.privateKeyPem });
  const staticUsers = createStaticAuthenticator({
    users: { "": {}, alice: { password: setup.hash } },
  });
  const small = createAclAuthorizer({ acl: [LAST_ENTRY] });
  const handlers = new Map<string, TokenHandler>();
  const endpoints = new Map<string, TokenEndpoint>();
  const authorization = new Map<string, string>();
  const closers: Array<() => Promise<void>> = [];

  const add = (
    id: string,
    authenticator: Authenticator,
    options: { cache: boolean; acl?: AclEntry[]; header?: string },
  ) => {
    const handlerOptions: TokenHandlerOptions = {
      authenticators: [authenticator],
      authorizers: [options.acl ? createAclAuthorizer({ acl: options.acl }) : small],
      issuer,
      services: [SERVICE],
      credentialCacheTtl: options.cache ? 60 : 0,
    };
    handlers.set(id, createTokenHandler(handlerOptions));
    endpoints.set(id, createTokenEndpoint(handlerOptions));
    if (options.header !== undefined) authorization.set(id, options.header);
  };

  const alice = basic("alice", STATIC_PASSWORD);
  add("anonymous", staticUsers, { cache: true });
  add("static-returning", staticUsers, { cache: true, header: alice });
  add("static-returning-web", staticUsers, { cache: true, header: alice });
  add("static-first", staticUsers, { cache: false, header: alice });
  add("acl-10k", staticUsers, { cache: true, header: alice, acl: literalAcl() });
  add("acl-10k-glob", staticUsers, { cache: true, header: alice, acl: globAcl() });

  if (setup.ldap.available) {
    const ldap = setup.ldap.options;
    const authenticator = createLdapAuthenticator({
      url: ldap.url,
      bindDn: ldap.bindDn,
      bindPassword: ldap.bindPassword,
      base: ldap.base,
      filter: "(&(objectClass=inetOrgPerson)(uid=${account}))",
      labels: { groups: { attribute: "memberOf", parseCN: true, lowerCase: true } },
    });
    closers.push(() => authenticator.close());
    const header = basic(ldap.account, ldap.password);
    add("ldap-returning", authenticator, { cache: true, header });
    add("ldap-first", authenticator, { cache: false, header });
  }
  if (setup.mongo.available) {
    const mongo = setup.mongo.options;
    const authenticator = createMongoAuthenticator({
      uri: mongo.uri,
      database: mongo.database,
      collection: mongo.collection,
    });
    await authenticator.ready();
    closers.push(() => authenticator.close());
    const header = basic("alice", STATIC_PASSWORD);
    add("mongo-returning", authenticator, { cache: true, header });
    add("mongo-first", authenticator, { cache: false, header });
  }

  return {
    handlers,
    endpoints,
    authorization,
    async close() {
      await Promise.all(closers.map((close) => close()));
    },
  };
}
