// End to end: docker-registry 2.8 trusts tokens from regauth (static users,
// docker_auth-style ACL, EC P-256 signing key), and skopeo pushes and pulls
// through it. Runs once with libtrust `kid` tokens and once with `x5c` tokens.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { createStaticAuthenticator, hashPassword } from "@regauth/authn";
import { createAclAuthorizer } from "@regauth/authz";
import { createTokenHandler } from "@regauth/core";
import { buildOciImage, type OciImage } from "@regauth/example-standalone/demo-image";
import { createTokenIssuer } from "@regauth/token";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cleanup } from "../support/cleanup.js";
import type { CommandResult } from "../support/exec.js";
import { checkPeers } from "../support/peers.js";
import { createSigningMaterial } from "../support/signing.js";
import type { Credentials } from "../support/skopeo.js";
import { decodeHeader, type Stack, startStack } from "../support/stack.js";

const peers = checkPeers("docker-registry", "skopeo", "openssl");

const ADMIN: Credentials = { username: "admin", password: "admin-e2e-password" };
const READER: Credentials = { username: "reader", password: "reader-e2e-password" };
const REPO = "e2e/hello";

/** docker_auth-style ACL: first match decides; anonymous is refused by the authenticator. */
const ACL = [
  { match: { account: "admin" }, actions: ["*"], comment: "admin may do anything, catalog too" },
  { match: { account: "reader", type: "repository" }, actions: ["pull"], comment: "reader pulls" },
];

const signingModes = [
  { mode: "libtrust kid", keyId: "libtrust", x5c: false },
  { mode: "x5c chain", keyId: "none", x5c: true },
] as const;

describe.skipIf(!peers.ok).each(signingModes)(
  "registry 2.8 + skopeo, tokens with a $mode",
  ({ keyId, x5c }) => {
    const cleanup = new Cleanup();
    let stack: Stack;
    let image: OciImage;
    let adminPush: Promise<CommandResult> | undefined;

    /** The admin's push of the image to REPO, done once and shared by the tests that need it. */
    const pushAsAdmin = () => {
      adminPush ??= stack.skopeo.copy(image.reference, stack.imageRef(REPO), { destCreds: ADMIN });
      return adminPush;
    };
    const requestsFor = (account: string | undefined, scope: string) =>
      stack.tokens.requests.filter((r) => r.account === account && r.scopes.includes(scope));
    const registryFetch = (path: string, token: string | undefined, init: RequestInit = {}) => {
      const headers = new Headers(init.headers);
      if (token !== undefined) headers.set("authorization", `Bearer ${token}`);
      return fetch(`${stack.registry.url}${path}`, { ...init, headers });
    };
    /** A fresh OCI layout reference to pull into. */
    const pullTarget = (name: string) => `oci:${join(stack.workDir, `pulled-${name}`)}:latest`;

    beforeAll(async () => {
      const users = {
        admin: { password: await hashPassword(ADMIN.password, 4) },
        reader: { password: await hashPassword(READER.password, 4) },
      };
      stack = await startStack({
        cleanup,
        createHandler: ({ signing, service, issuer }) =>
          createTokenHandler({
            authenticators: [createStaticAuthenticator({ users })],
            authorizers: [createAclAuthorizer({ acl: ACL })],
            issuer: createTokenIssuer({
              issuer,
              privateKey: signing.privateKeyPem,
              certificateChain: signing.certificatePem,
              keyId,
              x5c,
            }),
            services: [service],
          }),
      });
      image = await buildOciImage(join(stack.workDir, "source"));
    });
    afterAll(() => cleanup.run());

    it("signs tokens whose header names the key as configured", async () => {
      const fetched = await stack.fetchToken(ADMIN, [`repository:${REPO}:pull`]);
      expect(fetched.status, JSON.stringify(fetched.body)).toBe(200);
      const header = decodeHeader(fetched.token ?? "");
      expect(header).toMatchObject({ typ: "JWT", alg: "ES256" });
      if (x5c) {
        expect(header.x5c).toEqual([expect.any(String)]);
        expect(header.kid).toBeUndefined();
      } else {
        expect(header.kid).toMatch(/^[A-Z2-7]{4}(:[A-Z2-7]{4}){11}$/);
        expect(header.x5c).toBeUndefined();
      }
      expect(fetched.claims).toMatchObject({
        iss: stack.issuer,
        sub: "admin",
        aud: stack.service,
        access: [{ type: "repository", name: REPO, actions: ["pull"] }],
      });
    });

    it("lets admin push the image and pull it back with the same digest", async () => {
      const pushed = await pushAsAdmin();
      expect(pushed.code, `push failed${stack.diagnostics()}`).toBe(0);

      const inspected = await stack.skopeo.inspect(stack.imageRef(REPO), ADMIN);
      expect(inspected.code, `inspect failed${stack.diagnostics()}`).toBe(0);
      expect(inspected.digest, stack.diagnostics()).toBe(image.manifestDigest);

      const target = pullTarget("admin-pull");
      const pulled = await stack.skopeo.copy(stack.imageRef(REPO), target, {
        srcCreds: ADMIN,
      });
      expect(pulled.code, `pull failed${stack.diagnostics()}`).toBe(0);
      const local = await stack.skopeo.inspect(target);
      expect(local.digest, stack.diagnostics()).toBe(image.manifestDigest);
    });

    it("was asked for the push as skopeo does: GET, account=admin, scope pull,push", async () => {
      expect((await pushAsAdmin()).code, stack.diagnostics()).toBe(0);
      const asked = requestsFor("admin", `repository:${REPO}:pull,push`);
      expect(asked, stack.diagnostics()).not.toHaveLength(0);
      expect(asked[0], stack.diagnostics()).toMatchObject({
        method: "GET",
        path: "/auth",
        authorization: "basic",
        status: 200,
      });
      expect(asked[0]?.query.get("service")).toBe(stack.service);
    });

    it("refuses reader's push, after asking the token server", async () => {
      const repo = "e2e/reader-push";
      const pushed = await stack.skopeo.copy(image.reference, stack.imageRef(repo), {
        destCreds: READER,
      });
      expect(pushed.code, `reader's push should fail${stack.diagnostics()}`).not.toBe(0);
      // The registry, not the token server, refuses: the token lacks `push`.
      expect(pushed.stderr, stack.diagnostics()).toMatch(
        /requested access to the resource is denied/,
      );
      const asked = requestsFor("reader", `repository:${repo}:pull,push`);
      expect(asked, stack.diagnostics()).not.toHaveLength(0);
      // The token is issued (200) with only the granted part, pull; the registry refuses the push.
      expect(asked[0]?.status, stack.diagnostics()).toBe(200);
      const check = await stack.skopeo.inspect(stack.imageRef(repo), ADMIN);
      expect(check.code, `the image must not be there${stack.diagnostics()}`).not.toBe(0);
    });

    it("lets reader pull", async () => {
      expect((await pushAsAdmin()).code, stack.diagnostics()).toBe(0);
      const target = pullTarget("reader-pull");
      const pulled = await stack.skopeo.copy(stack.imageRef(REPO), target, {
        srcCreds: READER,
      });
      expect(pulled.code, `reader's pull failed${stack.diagnostics()}`).toBe(0);
      const local = await stack.skopeo.inspect(target);
      expect(local.digest, stack.diagnostics()).toBe(image.manifestDigest);
      expect(
        requestsFor("reader", `repository:${REPO}:pull`),
        stack.diagnostics(),
      ).not.toHaveLength(0);
    });

    it("refuses a wrong password with 401 and a Basic challenge", async () => {
      expect((await pushAsAdmin()).code, stack.diagnostics()).toBe(0);
      const wrong = { username: "admin", password: "not-the-password" };
      const target = pullTarget("wrong-password");
      const pulled = await stack.skopeo.copy(stack.imageRef(REPO), target, {
        srcCreds: wrong,
      });
      expect(pulled.code, `pull with a wrong password should fail${stack.diagnostics()}`).not.toBe(
        0,
      );
      expect(pulled.stderr, stack.diagnostics()).toMatch(/invalid username\/password/);
      const last = stack.tokens.requests.at(-1);
      expect(last, stack.diagnostics()).toMatchObject({ account: "admin", status: 401 });

      const fetched = await stack.fetchToken(wrong, [`repository:${REPO}:pull`]);
      expect(fetched.status).toBe(401);
      expect(fetched.headers.get("www-authenticate")).toMatch(/^Basic realm="/);
      expect(fetched.body).toMatchObject({ errors: [{ code: "UNAUTHORIZED" }] });
      expect(fetched.token).toBeUndefined();
    });

    it("refuses anonymous pull and push", async () => {
      expect((await pushAsAdmin()).code, stack.diagnostics()).toBe(0);
      stack.tokens.clear();
      const target = pullTarget("anonymous");
      const pulled = await stack.skopeo.copy(stack.imageRef(REPO), target);
      expect(pulled.code, `anonymous pull should fail${stack.diagnostics()}`).not.toBe(0);
      expect(pulled.stderr, stack.diagnostics()).toMatch(/unable to retrieve auth token/);
      const pushed = await stack.skopeo.copy(image.reference, stack.imageRef("e2e/anonymous"));
      expect(pushed.code, `anonymous push should fail${stack.diagnostics()}`).not.toBe(0);

      const seen = stack.tokens.requests;
      expect(seen, stack.diagnostics()).not.toHaveLength(0);
      for (const request of seen) {
        expect(request, stack.diagnostics()).toMatchObject({ authorization: "none", status: 401 });
      }
      const fetched = await stack.fetchToken(undefined, [`repository:${REPO}:pull`]);
      expect(fetched.status).toBe(401);
      expect(fetched.token).toBeUndefined();
    });

    it("serves /v2/_catalog to admin's registry:catalog:* token, not to reader's", async () => {
      expect((await pushAsAdmin()).code, stack.diagnostics()).toBe(0);
      const scope = "registry:catalog:*";

      const admin = await stack.fetchToken(ADMIN, [scope]);
      expect(admin.status, JSON.stringify(admin.body)).toBe(200);
      expect(admin.claims?.access).toEqual([{ type: "registry", name: "catalog", actions: ["*"] }]);
      const listed = await registryFetch("/v2/_catalog", admin.token);
      const body = await listed.text();
      expect(listed.status, `${body}${stack.diagnostics()}`).toBe(200);
      expect((JSON.parse(body) as { repositories: string[] }).repositories).toContain(REPO);

      const reader = await stack.fetchToken(READER, [scope]);
      expect(reader.status, JSON.stringify(reader.body)).toBe(200);
      expect(reader.claims?.access).toEqual([{ type: "registry", name: "catalog", actions: [] }]);
      const refused = await registryFetch("/v2/_catalog", reader.token);
      await refused.arrayBuffer();
      expect(refused.status, stack.diagnostics()).toBe(401);
    });

    it("refuses a well-formed token signed by a key it does not trust", async () => {
      // Guards the other tests: the registry really checks the signature.
      const dir = join(stack.workDir, "untrusted-key");
      await mkdir(dir, { recursive: true });
      const other = await createSigningMaterial(dir, "untrusted signer");
      const untrusted = createTokenIssuer({
        issuer: stack.issuer,
        privateKey: other.privateKeyPem,
        certificateChain: other.certificatePem,
        keyId,
        x5c,
      });
      const { token } = await untrusted.issue({
        subject: "admin",
        audience: stack.service,
        access: [{ type: "registry", name: "catalog", actions: ["*"] }],
      });
      const refused = await registryFetch("/v2/_catalog", token);
      await refused.arrayBuffer();
      expect(refused.status, stack.diagnostics()).toBe(401);
    });

    it("deletes a manifest with a delete token (202), not with a pull-only one (401)", async () => {
      const repo = "e2e/delete-me";
      const pushed = await stack.skopeo.copy(image.reference, stack.imageRef(repo), {
        destCreds: ADMIN,
      });
      expect(pushed.code, `push failed${stack.diagnostics()}`).toBe(0);
      const path = `/v2/${repo}/manifests/${image.manifestDigest}`;

      const pullOnly = await stack.fetchToken(ADMIN, [`repository:${repo}:pull`]);
      const refused = await registryFetch(path, pullOnly.token, { method: "DELETE" });
      await refused.arrayBuffer();
      expect(refused.status, `pull-only token${stack.diagnostics()}`).toBe(401);

      const reader = await stack.fetchToken(READER, [`repository:${repo}:pull,delete`]);
      expect(reader.claims?.access).toEqual([
        { type: "repository", name: repo, actions: ["pull"] },
      ]);
      const readerRefused = await registryFetch(path, reader.token, { method: "DELETE" });
      await readerRefused.arrayBuffer();
      expect(readerRefused.status, `reader's token${stack.diagnostics()}`).toBe(401);

      const deleter = await stack.fetchToken(ADMIN, [`repository:${repo}:delete`]);
      expect(deleter.claims?.access).toEqual([
        { type: "repository", name: repo, actions: ["delete"] },
      ]);
      const deleted = await registryFetch(path, deleter.token, { method: "DELETE" });
      await deleted.arrayBuffer();
      expect(deleted.status, `delete token${stack.diagnostics()}`).toBe(202);

      const gone = await registryFetch(path, pullOnly.token, {
        headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
      });
      await gone.arrayBuffer();
      expect(gone.status, stack.diagnostics()).toBe(404);
    });
  },
);
