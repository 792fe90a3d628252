// End to end: `regauth serve CONFIG` with `token.refresh_tokens` (issue 7) is the
// token server of docker-registry 2.8. A password grant with access_type=offline
// (and a docker login GET with offline_token=true) returns a refresh token, the
// refresh_token grant works, a config reload keeps the tokens, and crane pulls
// with nothing but the refresh token stored where `docker login` leaves it.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { hashPassword } from "@regauth/authn";
import { buildOciImage, type OciImage } from "@regauth/example-standalone/demo-image";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cleanup } from "../support/cleanup.js";
import { createCraneClient, type MatrixClient } from "../support/clients.js";
import { checkPeers, findPeer } from "../support/peers.js";
import { freePort } from "../support/ports.js";
import { type RegauthServe, startRegauthServe } from "../support/regauth-cli.js";
import { type RunningRegistry, startRegistry } from "../support/registry.js";
import { createSigningMaterial, type SigningMaterial } from "../support/signing.js";

const peers = checkPeers("docker-registry", "openssl");
const SERVICE = "registry.refresh.test";
const ISSUER = "regauth-refresh-e2e";
const ADMIN = { username: "admin", password: "admin-refresh-password" };
const READER = { username: "reader", password: "reader-refresh-password" };

describe.skipIf(!peers.ok)("regauth serve with token.refresh_tokens", () => {
  const cleanup = new Cleanup();
  let server: RegauthServe;
  let registry: RunningRegistry;
  let configPath: string;
  let realm: string;
  let root: string;
  let signing: SigningMaterial;

  const form = (fields: Record<string, string>) =>
    fetch(realm, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ service: SERVICE, ...fields }),
    });
  const passwordGrant = (clientId: string) =>
    form({
      grant_type: "password",
      username: READER.username,
      password: READER.password,
      access_type: "offline",
      client_id: clientId,
      scope: "repository:team/app:pull",
    });
  const refreshGrant = (token: string, clientId: string) =>
    form({
      grant_type: "refresh_token",
      refresh_token: token,
      client_id: clientId,
      scope: "repository:team/app:pull,push",
    });
  const why = () => `\n--- regauth ---\n${server.log().slice(-3000)}`;

  const config = async (port: number, refresh: string, expiration = 900) => `
server:
  addr: "127.0.0.1:${port}"
token:
  issuer: "${ISSUER}"
  expiration: ${expiration}
  certificate: ${signing.certificatePath}
  key: ${signing.keyPath}
  services: ["${SERVICE}"]
${refresh}
users:
  admin: {password: "${await hashPassword(ADMIN.password, 4)}"}
  reader: {password: "${await hashPassword(READER.password, 4)}"}
acl:
  - match: {account: admin}
    actions: ["*"]
  - match: {account: reader}
    actions: [pull]
`;
  const REFRESH = `  refresh_tokens:
    lifetime: 24h
    bind_client_id: true`;

  beforeAll(async () => {
    root = await cleanup.tempDir("server-refresh-");
    for (const sub of ["signing", "registry", "work"]) await mkdir(join(root, sub));
    signing = await createSigningMaterial(join(root, "signing"));
    const port = await freePort();
    configPath = join(root, "auth_config.yml");
    await writeFile(configPath, await config(port, REFRESH));
    server = await startRegauthServe({ cleanup, configPath });
    // crane refuses a realm on a loopback IP at another port than the registry.
    realm = `http://localhost:${port}/auth`;
    registry = await startRegistry({
      dir: join(root, "registry"),
      realm,
      service: SERVICE,
      issuer: ISSUER,
      rootCertBundlePath: signing.certificatePath,
    });
    cleanup.defer(() => registry.stop());
  });
  afterAll(() => cleanup.run());

  it("a password grant with access_type=offline returns a refresh token; the refresh grant works", async () => {
    const login = await passwordGrant("e2e-tool");
    expect(login.status, why()).toBe(200);
    const body = (await login.json()) as Record<string, unknown>;
    expect(body.refresh_token, why()).toMatch(/^rgr_[A-Za-z0-9_-]{43}$/);
    expect(body.access_token).toEqual(expect.any(String));
    const renewed = await refreshGrant(String(body.refresh_token), "e2e-tool");
    expect(renewed.status, why()).toBe(200);
    const again = (await renewed.json()) as {
      access_token: string;
      scope: string;
      refresh_token?: string;
    };
    // Authorization runs again on every use: the reader may only pull.
    expect(again.scope).toBe("repository:team/app:pull");
    expect(again.refresh_token).toBeUndefined();
    // bind_client_id: true: another tool cannot use it.
    const other = await refreshGrant(String(body.refresh_token), "another-tool");
    expect(other.status).toBe(400);
    expect(await other.json()).toMatchObject({ error: "invalid_grant" });
  });

  it("docker login (GET with offline_token=true) gets one too", async () => {
    const login = await fetch(`${realm}?service=${SERVICE}&offline_token=true&client_id=docker`, {
      headers: {
        authorization: `Basic ${Buffer.from(`${READER.username}:${READER.password}`).toString("base64")}`,
      },
    });
    expect(login.status, why()).toBe(200);
    const { refresh_token: token } = (await login.json()) as { refresh_token: string };
    expect((await refreshGrant(token, "docker")).status, why()).toBe(200);
  });

  it("a config reload keeps the refresh tokens kept in memory", async () => {
    const { refresh_token: token } = (await (await passwordGrant("e2e-tool")).json()) as {
      refresh_token: string;
    };
    const port = Number(new URL(realm).port);
    const before = server.log().split("config reloaded").length;
    await writeFile(configPath, await config(port, REFRESH, 600));
    const deadline = Date.now() + 10_000;
    while (server.log().split("config reloaded").length === before) {
      if (Date.now() > deadline) throw new Error(`no reload${why()}`);
      await sleep(50);
    }
    const renewed = await refreshGrant(token, "e2e-tool");
    expect(renewed.status, why()).toBe(200);
    expect(((await renewed.json()) as { expires_in: number }).expires_in).toBe(600);
  });

  describe.skipIf(findPeer("crane") === undefined)("crane", () => {
    let crane: MatrixClient;
    let image: OciImage;
    const craneHost = () => `localhost:${new URL(registry.url).port}`;

    beforeAll(async () => {
      // docker login's token is read by every tool sharing the docker config, each
      // sending its own client_id: that deployment sets bind_client_id: false.
      const port = Number(new URL(realm).port);
      const before = server.log().split("config reloaded").length;
      await writeFile(
        configPath,
        await config(port, "  refresh_tokens: {lifetime: 24h, bind_client_id: false}"),
      );
      const deadline = Date.now() + 10_000;
      while (server.log().split("config reloaded").length === before) {
        if (Date.now() > deadline) throw new Error(`no reload${why()}`);
        await sleep(50);
      }
      const dir = join(root, "crane");
      await mkdir(dir);
      crane = await createCraneClient({
        dir,
        host: craneHost(),
        defer: (step) => cleanup.defer(step),
      });
      image = await buildOciImage(join(root, "work", "source"));
    });

    it("pulls with nothing but a docker login's refresh token stored", async () => {
      const pushed = await crane.push(image, "team/app", ADMIN);
      expect(pushed.code, `${crane.lastOutput()}${why()}`).toBe(0);
      const login = await fetch(`${realm}?service=${SERVICE}&offline_token=true&client_id=docker`, {
        headers: {
          authorization: `Basic ${Buffer.from(`${READER.username}:${READER.password}`).toString("base64")}`,
        },
      });
      const { refresh_token: token } = (await login.json()) as { refresh_token: string };
      const before = server.log().length;
      if (!crane.useRefreshToken || !crane.pullWithStoredAuth)
        throw new Error("crane lost refresh tokens");
      await crane.useRefreshToken(READER.username, token);
      const pulled = await crane.pullWithStoredAuth("team/app");
      expect(pulled.code, `${crane.lastOutput()}${why()}`).toBe(0);
      expect(pulled.digest).toBe(image.manifestDigest);
      // The reader's password was never given to crane this time: the refresh grant did it.
      expect(server.log().slice(before), why()).toMatch(/"grantType":"refresh_token"/);
    });
  });
});
