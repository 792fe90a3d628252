// The end-to-end case run through examples/express and examples/koa: the
// example app (its token endpoint under /registry, its other routes beside it)
// writes the trust files, docker-registry 2.8 starts with the exported bundle
// as its rootcertbundle, and skopeo pushes and pulls through the app's tokens.
import { X509Certificate } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { hashPassword } from "@regauth/authn";
import { buildOciImage, type OciImage } from "@regauth/example-standalone/demo-image";
import { libtrustKeyId } from "@regauth/token";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cleanup } from "./cleanup.js";
import { type RunningExampleApp, startExampleApp } from "./example-app.js";
import type { CommandResult } from "./exec.js";
import { checkPeers } from "./peers.js";
import { type RunningRegistry, startRegistry } from "./registry.js";
import { createSigningMaterial, type SigningMaterial } from "./signing.js";
import { type Credentials, createSkopeo, type Skopeo } from "./skopeo.js";
import { decodeClaims, decodeHeader } from "./stack.js";

const ADMIN: Credentials = { username: "admin", password: "admin-e2e-password" };
const READER: Credentials = { username: "reader", password: "reader-e2e-password" };
const SERVICE = "registry.example-e2e.test";
const ISSUER = "regauth-example-e2e";
const REPO = "e2e/hello";

/** Defines the suite for one example app. */
export function describeExampleEndToEnd(name: "express" | "koa"): void {
  const peers = checkPeers("docker-registry", "skopeo", "openssl");

  describe.skipIf(!peers.ok)(`examples/${name} + docker-registry 2.8 + skopeo`, () => {
    const cleanup = new Cleanup();
    let signing: SigningMaterial;
    let app: RunningExampleApp;
    let registry: RunningRegistry;
    let skopeo: Skopeo;
    let image: OciImage;
    let work: string;
    let adminPush: Promise<CommandResult> | undefined;

    const diagnostics = () =>
      [
        "",
        skopeo?.lastOutput() ?? "",
        `--- examples/${name} output ---`,
        app?.output() ?? "",
        "--- registry log ---",
        registry?.logTail(20) ?? "",
      ].join("\n");
    const imageRef = (repo: string) => `docker://${registry.host}/${repo}:latest`;
    const pushAsAdmin = () => {
      adminPush ??= skopeo.copy(image.reference, imageRef(REPO), { destCreds: ADMIN });
      return adminPush;
    };
    /** A token from the app's endpoint, as skopeo asks for one. */
    const fetchToken = async (creds: Credentials, scope: string) => {
      const url = new URL(app.realm);
      url.searchParams.set("service", SERVICE);
      url.searchParams.set("scope", scope);
      url.searchParams.set("account", creds.username);
      const basic = Buffer.from(`${creds.username}:${creds.password}`).toString("base64");
      const response = await fetch(url, { headers: { Authorization: `Basic ${basic}` } });
      const body = (await response.json()) as { token?: string };
      expect(response.status, JSON.stringify(body)).toBe(200);
      return body.token as string;
    };
    const get = async (url: string, token?: string) => {
      const response = await fetch(url, {
        headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
      });
      const text = await response.text();
      return { status: response.status, challenge: response.headers.get("www-authenticate"), text };
    };

    beforeAll(async () => {
      const root = await cleanup.tempDir(`example-${name}-`);
      work = join(root, "work");
      await Promise.all(
        ["signing", "registry", "skopeo", "work", "trust"].map((d) =>
          mkdir(join(root, d), { recursive: true }),
        ),
      );
      signing = await createSigningMaterial(join(root, "signing"));
      const htpasswdPath = join(root, "htpasswd");
      const lines = await Promise.all(
        [ADMIN, READER].map(async (c) => `${c.username}:${await hashPassword(c.password, 4)}`),
      );
      await writeFile(htpasswdPath, `${lines.join("\n")}\n`);
      app = await startExampleApp(name, {
        keyPath: signing.keyPath,
        certificatePath: signing.certificatePath,
        htpasswdPath,
        trustDir: join(root, "trust"),
        service: SERVICE,
        issuer: ISSUER,
      });
      cleanup.defer(() => app.stop());
      registry = await startRegistry({
        dir: join(root, "registry"),
        realm: app.realm,
        service: SERVICE,
        issuer: ISSUER,
        rootCertBundlePath: app.rootCertBundlePath, // what the app exported
        deleteEnabled: true,
      });
      cleanup.defer(() => registry.stop());
      skopeo = await createSkopeo(join(root, "skopeo"));
      image = await buildOciImage(join(work, "source"));
    });
    afterAll(() => cleanup.run());

    it("exported the signing certificate as the bundle and its key as a JWKS", async () => {
      const bundle = await readFile(app.rootCertBundlePath, "utf8");
      expect(bundle.trim()).toBe(signing.certificatePem.trim());
      const jwks = JSON.parse(await readFile(app.jwksPath, "utf8")) as { keys: { kid: string }[] };
      const token = await fetchToken(READER, `repository:${REPO}:pull`);
      expect(jwks.keys.map((key) => key.kid)).toEqual([decodeHeader(token).kid]);
      const certificateKey = new X509Certificate(signing.certificatePem).publicKey;
      expect(decodeHeader(token).kid).toBe(libtrustKeyId(certificateKey));
    });

    it("lets admin push through the app's tokens and pull the image back", async () => {
      const pushed = await pushAsAdmin();
      expect(pushed.code, `push failed${diagnostics()}`).toBe(0);
      const target = `oci:${join(work, "admin-pull")}:latest`;
      const pulled = await skopeo.copy(imageRef(REPO), target, { srcCreds: ADMIN });
      expect(pulled.code, `pull failed${diagnostics()}`).toBe(0);
      expect((await skopeo.inspect(target)).digest, diagnostics()).toBe(image.manifestDigest);
    });

    it("lets reader pull, and the registry refuses reader's push", async () => {
      expect((await pushAsAdmin()).code, diagnostics()).toBe(0);
      const pulled = await skopeo.copy(imageRef(REPO), `oci:${join(work, "reader")}:latest`, {
        srcCreds: READER,
      });
      expect(pulled.code, `reader's pull failed${diagnostics()}`).toBe(0);
      const pushed = await skopeo.copy(image.reference, imageRef("e2e/reader-push"), {
        destCreds: READER,
      });
      expect(pushed.code, `reader's push should fail${diagnostics()}`).not.toBe(0);
      expect(pushed.stderr, diagnostics()).toMatch(/requested access to the resource is denied/);
    });

    it("refuses a wrong password at the app's endpoint", async () => {
      const pulled = await skopeo.copy(imageRef(REPO), `oci:${join(work, "wrong")}:latest`, {
        srcCreds: { username: "admin", password: "wrong" },
      });
      expect(pulled.code, diagnostics()).not.toBe(0);
      expect(pulled.stderr, diagnostics()).toMatch(/invalid username\/password/);
    });

    it("serves the app's other route beside the token endpoint", async () => {
      const health = await get(`${app.origin}/healthz`);
      expect(health.status).toBe(200);
      expect(JSON.parse(health.text)).toEqual({ ok: true });
    });

    it("serves containerd's OAuth2 POST although the app's body parsers read the form first", async () => {
      expect((await pushAsAdmin()).code, diagnostics()).toBe(0);
      const form = new URLSearchParams({
        grant_type: "password",
        username: ADMIN.username,
        password: ADMIN.password,
        service: SERVICE,
        client_id: "containerd",
        scope: `repository:${REPO}:pull`,
      });
      const response = await fetch(app.realm, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: form.toString(),
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await response.json()) as { access_token?: string };
      expect(response.status, JSON.stringify(body)).toBe(200);
      const tags = await get(`${registry.url}/v2/${REPO}/tags/list`, body.access_token);
      expect(tags.status, `${tags.text}${diagnostics()}`).toBe(200);
    });

    it("guards its own route with the registry's tokens, challenging as the registry does", async () => {
      expect((await pushAsAdmin()).code, diagnostics()).toBe(0);
      const notes = (repo: string) =>
        `${app.origin}/api/repository-notes?repository=${encodeURIComponent(repo)}`;
      const tags = (repo: string) => `${registry.url}/v2/${repo}/tags/list`;
      const token = await fetchToken(READER, `repository:${REPO}:pull`);
      expect(decodeClaims(token).sub).toBe("reader");

      // A good token: the registry serves it, and so does the app.
      expect((await get(tags(REPO), token)).status, diagnostics()).toBe(200);
      const allowed = await get(notes(REPO), token);
      expect(allowed.status, allowed.text).toBe(200);
      expect(JSON.parse(allowed.text)).toMatchObject({ repository: REPO, account: "reader" });

      // No token, a broken token, a token for another repository: the same
      // 401 challenge from both (and the same body when no token came).
      const cases: [string, string | undefined][] = [
        [REPO, undefined],
        [REPO, "abc.def.ghi"],
        ["e2e/other", token],
      ];
      for (const [repo, bearer] of cases) {
        const fromRegistry = await get(tags(repo), bearer);
        const fromApp = await get(notes(repo), bearer);
        expect(fromRegistry.status).toBe(401);
        expect(fromApp.status).toBe(401);
        expect(fromApp.challenge, `${repo} ${bearer}`).toBe(fromRegistry.challenge);
        if (bearer === undefined)
          expect(JSON.parse(fromApp.text)).toEqual(JSON.parse(fromRegistry.text));
      }
      expect((await get(notes("e2e/other"), token)).challenge).toMatch(
        /error="insufficient_scope"$/,
      );
    });
  });
}
