// End to end with a directory: docker-registry 2.8 trusts tokens from regauth,
// whose authenticator is OpenLDAP slapd (groups from the memberOf overlay) and
// whose ACL gives each group its own namespace: `name: "${labels:groups}/*"`.
// skopeo pushes as an LDAP user; directory faults answer 503 and heal.
import { join } from "node:path";
import { createLdapAuthenticator, type LdapAuthenticator } from "@regauth/authn/ldap";
import { createAclAuthorizer } from "@regauth/authz";
import { createTokenHandler } from "@regauth/core";
import { buildOciImage, type OciImage } from "@regauth/example-standalone/demo-image";
import { createTokenIssuer } from "@regauth/token";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cleanup } from "../support/cleanup.js";
import { checkPeers } from "../support/peers.js";
import type { Credentials } from "../support/skopeo.js";
import {
  type exampleDirectory,
  type RunningSlapd,
  SLAPD_PEERS,
  startExampleSlapd,
} from "../support/slapd.js";
import { type Stack, startStack } from "../support/stack.js";

const peers = checkPeers("docker-registry", "skopeo", ...SLAPD_PEERS);

/** The ACL from the issue: a member of group X may pull and push X/*, nothing else. */
const ACL = [
  { match: { name: "${labels:groups}/*" }, actions: ["pull", "push"], comment: "own group" },
];

describe.skipIf(!peers.ok)("registry 2.8 + skopeo, users and groups from OpenLDAP", () => {
  const cleanup = new Cleanup();
  let slapd: RunningSlapd;
  let directory: ReturnType<typeof exampleDirectory>;
  let ldap: LdapAuthenticator;
  let stack: Stack;
  let image: OciImage;

  const creds = (account: string): Credentials => ({
    username: account,
    password: directory.users[account]?.password ?? "",
  });
  const granted = async (account: string, password: string, repository: string) => {
    const fetched = await stack.fetchToken({ username: account, password }, [
      `repository:${repository}:pull,push`,
    ]);
    expect(fetched.status, JSON.stringify(fetched.body)).toBe(200);
    return fetched.claims?.access?.[0]?.actions;
  };

  beforeAll(async () => {
    ({ slapd, directory } = await startExampleSlapd(cleanup, { tls: true }));
    ldap = createLdapAuthenticator({
      url: slapd.url,
      startTls: true,
      ca: slapd.ca?.pem ?? [],
      bindDn: directory.service.dn,
      bindPassword: directory.service.password,
      base: `ou=people,${slapd.suffix}`,
      filter: "(&(objectClass=inetOrgPerson)(uid=${account}))",
      labels: { groups: { attribute: "memberOf", parseCN: true, lowerCase: true } },
      connectTimeoutMs: 2_000,
      operationTimeoutMs: 2_000,
    });
    cleanup.defer(() => ldap.close());
    stack = await startStack({
      cleanup,
      createHandler: ({ signing, service, issuer }) =>
        createTokenHandler({
          authenticators: [ldap],
          authorizers: [createAclAuthorizer({ acl: ACL })],
          issuer: createTokenIssuer({ issuer, privateKey: signing.privateKeyPem }),
          services: [service],
          // Every request reaches the backend: these cases are about the backend
          // (outages give 503), not about the credential cache in front of it.
          credentialCacheTtl: 0,
        }),
    });
    image = await buildOciImage(join(stack.workDir, "source"));
  });
  afterAll(() => cleanup.run());

  it("lets quinn (group QA) push qa/app with a directory password, and pull it back", async () => {
    const pushed = await stack.skopeo.copy(image.reference, stack.imageRef("qa/app"), {
      destCreds: creds("quinn"),
    });
    expect(pushed.code, `push failed${stack.diagnostics()}`).toBe(0);
    const inspected = await stack.skopeo.inspect(stack.imageRef("qa/app"), creds("quinn"));
    expect(inspected.digest, stack.diagnostics()).toBe(image.manifestDigest);
    const asked = stack.tokens.requests.filter((r) => r.account === "quinn");
    expect(asked.length, stack.diagnostics()).toBeGreaterThan(0);
    expect(
      asked.every((r) => r.status === 200),
      stack.diagnostics(),
    ).toBe(true);
  });

  it("refuses quinn's push anywhere else: the token carries no action there", async () => {
    const pushed = await stack.skopeo.copy(image.reference, stack.imageRef("dev/app"), {
      destCreds: creds("quinn"),
    });
    expect(pushed.code, `quinn's push to dev/app should fail${stack.diagnostics()}`).not.toBe(0);
    expect(pushed.stderr, stack.diagnostics()).toMatch(
      /requested access to the resource is denied/,
    );

    const quinn = creds("quinn");
    expect(await granted(quinn.username, quinn.password, "qa/app")).toEqual(["pull", "push"]);
    expect(await granted(quinn.username, quinn.password, "qa/team/app")).toEqual([]);
    expect(await granted(quinn.username, quinn.password, "dev/app")).toEqual([]);
    expect(await granted(quinn.username, quinn.password, "qa")).toEqual([]);
    expect(await granted(quinn.username, quinn.password, "qa-other/app")).toEqual([]);
  });

  it("gives members of two groups both namespaces, and non-members neither", async () => {
    expect(await granted("alice", "alice-pw", "qa/app")).toEqual(["pull", "push"]);
    expect(await granted("alice", "alice-pw", "dev/app")).toEqual(["pull", "push"]);
    expect(await granted("bob", "bob-pw", "qa/app")).toEqual([]);
    expect(await granted("bob", "bob-pw", "dev/app")).toEqual(["pull", "push"]);
    expect(await granted("carol", "carol-pw", "qa/app")).toEqual([]);
  });

  it("answers a non-ASCII account sent as UTF-8 Basic credentials", async () => {
    expect(await granted("jöns", "jöns-pw", "qa/app")).toEqual(["pull", "push"]);
  });

  it("answers 401 to a wrong password, an unknown account, an injection attempt and anonymous", async () => {
    for (const [username, password] of [
      ["quinn", "wrong"],
      ["nobody", "quinn-pw"],
      ["*", "quinn-pw"],
      ["quinn)(|(uid=*", "quinn-pw"],
    ] as const) {
      const fetched = await stack.fetchToken({ username, password }, ["repository:qa/app:pull"]);
      expect(fetched.status, `${username}: ${JSON.stringify(fetched.body)}`).toBe(401);
      expect(fetched.headers.get("www-authenticate")).toMatch(/^Basic realm=/);
    }
    const anonymous = await stack.fetchToken(undefined, ["repository:qa/app:pull"]);
    expect(anonymous.status).toBe(401);
  });

  it("answers 503, not 401, when two directory entries match the account", async () => {
    // twin exists in ou=people and ou=contractors; search the whole suffix.
    const wide = createLdapAuthenticator({
      url: slapd.url,
      bindDn: directory.service.dn,
      bindPassword: directory.service.password,
      base: slapd.suffix,
      filter: "(uid=${account})",
    });
    cleanup.defer(() => wide.close());
    const handler = createTokenHandler({
      authenticators: [wide],
      authorizers: [createAclAuthorizer({ acl: ACL })],
      issuer: createTokenIssuer({ issuer: stack.issuer, privateKey: stack.signing.privateKeyPem }),
      services: [stack.service],
    });
    const basic = Buffer.from("twin:twin-pw").toString("base64");
    const response = await handler(
      new Request(`http://token/auth?service=${stack.service}&scope=repository:qa/app:pull`, {
        headers: { authorization: `Basic ${basic}` },
      }),
    );
    expect(response.status).toBe(503);
    const body = (await response.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]).toEqual({
      code: "UNAVAILABLE",
      message: "ldap: more than one directory entry matches the account",
    });
  });

  it("answers 503 while slapd is stopped and 200 again once it is back", async () => {
    const quinn = creds("quinn");
    expect(await granted(quinn.username, quinn.password, "qa/app")).toEqual(["pull", "push"]);
    await slapd.stop();
    try {
      const down = await stack.fetchToken(quinn, ["repository:qa/app:pull"]);
      expect(down.status, JSON.stringify(down.body)).toBe(503);
      expect(down.token).toBeUndefined();
      const pulled = await stack.skopeo.inspect(stack.imageRef("qa/app"), quinn);
      expect(pulled.code, "no token while the directory is down").not.toBe(0);
    } finally {
      await slapd.start();
    }
    expect(await granted(quinn.username, quinn.password, "qa/app")).toEqual(["pull", "push"]);
    const inspected = await stack.skopeo.inspect(stack.imageRef("qa/app"), quinn);
    expect(inspected.digest, stack.diagnostics()).toBe(image.manifestDigest);
  });
});
