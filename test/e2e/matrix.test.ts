// The client x registry matrix (issue 7): every client logs in, pushes, pulls
// (digest checked), is refused a push as the pull-only user, and copies between
// two repositories (a cross-repository blob mount: two repositories in one token
// request), against docker-registry 2.8 and distribution 3.x (trusting our key
// through `jwks`, and through `rootcertbundle` with thumbprint kids). Clients
// that read a docker login's identity token then pull with a refresh token
// only. What each client asked the token server is printed as a table.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createStaticAuthenticator, hashPassword } from "@regauth/authn";
import { createAclAuthorizer } from "@regauth/authz";
import { createRefreshTokens, createTokenHandler } from "@regauth/core";
import { buildOciImage, type OciImage } from "@regauth/example-standalone/demo-image";
import { createTokenIssuer, type RegistryTokenIssuer } from "@regauth/token";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cleanup } from "../support/cleanup.js";
import {
  type ClientSetup,
  createCraneClient,
  createCtrClient,
  createOrasClient,
  createPodmanClient,
  createRegctlClient,
  createSkopeoClient,
  type MatrixClient,
} from "../support/clients.js";
import { type RegistryFlavor, startAnyRegistry } from "../support/distribution3.js";
import { type GrantRecorder, recordGrants } from "../support/grant-recorder.js";
import { checkPeers } from "../support/peers.js";
import type { RunningRegistry } from "../support/registry.js";
import { createSigningMaterial, type SigningMaterial } from "../support/signing.js";
import type { Credentials } from "../support/skopeo.js";
import { startTokenServer } from "../support/token-server.js";

const ADMIN: Credentials = { username: "admin", password: "admin-matrix-password" };
const READER: Credentials = { username: "reader", password: "reader-matrix-password" };
const SERVICE = "registry.matrix.test";
const ISSUER = "regauth-matrix";
const ACL = [
  { match: { account: "admin" }, actions: ["*"] },
  { match: { account: "reader", type: "repository" }, actions: ["pull"] },
];

type ClientFactory = (setup: ClientSetup) => Promise<MatrixClient>;
/**
 * The clients, and which of the optional steps each can take (`login`: a
 * login command of its own; `refresh`: reads a docker login's refresh token
 * from its auth file). A step a client cannot take is not a test of it: the
 * matrix shows `n/a` there, and checks that the client indeed lacks it.
 */
const CLIENTS: ReadonlyArray<{
  name: string;
  peers: string[];
  make: ClientFactory;
  login: boolean;
  refresh: boolean;
}> = [
  {
    name: "skopeo",
    peers: ["skopeo"],
    make: (s) => createSkopeoClient(s),
    login: true,
    refresh: true,
  },
  {
    name: "podman",
    peers: ["podman"],
    make: (s) => createPodmanClient(s),
    login: true,
    refresh: true,
  },
  {
    name: "ctr",
    peers: ["ctr", "containerd", "tar"],
    make: (s) => createCtrClient(s),
    login: false,
    refresh: false,
  },
  {
    name: "crane",
    peers: ["crane"],
    make: (s) => createCraneClient(s),
    login: true,
    refresh: true,
  },
  { name: "oras", peers: ["oras"], make: (s) => createOrasClient(s), login: true, refresh: true },
  {
    name: "regctl",
    peers: ["regctl"],
    make: (s) => createRegctlClient(s),
    login: true,
    refresh: false,
  },
];

type Trust = "rootcertbundle" | "jwks";
const REGISTRIES: ReadonlyArray<{
  label: string;
  kind: "2.8" | "3.x";
  trust: Trust;
  keyId: "libtrust" | "thumbprint";
}> = [
  { label: "2.8 rootcertbundle", kind: "2.8", trust: "rootcertbundle", keyId: "libtrust" },
  { label: "3.x jwks", kind: "3.x", trust: "jwks", keyId: "thumbprint" },
  { label: "3.x rootcertbundle", kind: "3.x", trust: "rootcertbundle", keyId: "thumbprint" },
];

const peers = checkPeers(
  "openssl",
  "docker-registry",
  "registry",
  ...new Set(CLIENTS.flatMap((c) => c.peers)),
);

/** One line of the printed matrix. */
interface MatrixRow {
  registry: string;
  client: string;
  results: Record<string, string>;
  methods: string;
}
const rows: MatrixRow[] = [];

function summarize(recorder: GrantRecorder, prefix: string): string {
  const seen = new Set<string>();
  for (const r of recorder.since(prefix)) {
    const kind = r.method === "POST" ? `POST ${r.grantType}` : "GET";
    const client = r.clientId === "" ? "" : ` client_id=${r.clientId}`;
    seen.add(`${kind}${r.offline ? " offline" : ""}${client} ${r.status}`);
  }
  return [...seen].join(", ");
}

describe.skipIf(!peers.ok).each(REGISTRIES)("registry $label", (registryCase) => {
  const cleanup = new Cleanup();
  let registry: RunningRegistry;
  let recorder: GrantRecorder;
  let image: OciImage;
  let signing: SigningMaterial;
  let issuer: RegistryTokenIssuer;
  let root: string;
  let realm: string;
  // A docker login's token is read by every tool sharing the docker config, each
  // sending its own client_id: the matrix shows that flow, so no client_id binding.
  const refreshTokens = createRefreshTokens({ bindClientId: false });

  beforeAll(async () => {
    root = await cleanup.tempDir(`matrix-${registryCase.kind}-${registryCase.trust}-`);
    await mkdir(join(root, "signing"));
    signing = await createSigningMaterial(join(root, "signing"));
    const users = {
      admin: { password: await hashPassword(ADMIN.password, 4) },
      reader: { password: await hashPassword(READER.password, 4) },
    };
    issuer = createTokenIssuer({
      issuer: ISSUER,
      privateKey: signing.privateKeyPem,
      certificateChain: signing.certificatePem,
      keyId: registryCase.keyId,
    });
    recorder = recordGrants(
      createTokenHandler({
        authenticators: [createStaticAuthenticator({ users })],
        authorizers: [createAclAuthorizer({ acl: ACL })],
        issuer,
        services: [SERVICE],
        refreshTokens,
      }),
    );
    const tokens = await startTokenServer(recorder.handler);
    cleanup.defer(() => tokens.stop());
    // crane refuses a realm on a loopback IP at another port than the registry.
    realm = `http://localhost:${tokens.port}/auth`;
    let flavor: RegistryFlavor;
    if (registryCase.trust === "jwks") {
      const jwksPath = join(root, "signing", "jwks.json");
      await writeFile(jwksPath, JSON.stringify({ keys: [issuer.publicJwk] }));
      flavor = { kind: "3.x", jwksPath };
    } else {
      flavor = { kind: registryCase.kind, rootCertBundlePath: signing.certificatePath };
    }
    await mkdir(join(root, "registry"));
    registry = await startAnyRegistry({
      dir: join(root, "registry"),
      realm,
      service: SERVICE,
      issuer: ISSUER,
      flavor,
    });
    cleanup.defer(() => registry.stop());
    image = await buildOciImage(join(root, "source"));
  });
  afterAll(async () => {
    await cleanup.run();
    if (registryCase === REGISTRIES.at(-1)) printMatrix();
  });

  /** The manifest digest the registry holds for `repo:latest` (asked with an admin token). */
  async function registryDigest(repo: string): Promise<string | null> {
    const { token } = await issuer.issue({
      subject: "admin",
      audience: SERVICE,
      access: [{ type: "repository", name: repo, actions: ["pull"] }],
    });
    const response = await fetch(`${registry.url}/v2/${repo}/manifests/latest`, {
      method: "HEAD",
      headers: {
        authorization: `Bearer ${token}`,
        accept: [
          "application/vnd.oci.image.manifest.v1+json",
          "application/vnd.oci.image.index.v1+json",
          "application/vnd.docker.distribution.manifest.v2+json",
          "application/vnd.docker.distribution.manifest.list.v2+json",
        ].join(", "),
      },
    });
    return response.status === 200 ? response.headers.get("docker-content-digest") : null;
  }

  describe.each(CLIENTS)("client $name", (clientCase) => {
    let client: MatrixClient;
    const row: MatrixRow = {
      registry: registryCase.label,
      client: clientCase.name,
      results: {},
      methods: "",
    };
    const repo = `${clientCase.name}/app`;
    const mark = (step: string) => recorder.label(`${clientCase.name} ${step}`);
    const why = () => `\n${client.lastOutput()}\n--- registry ---\n${registry.logTail(15)}`;

    beforeAll(async () => {
      rows.push(row);
      const dir = join(root, `client-${clientCase.name}`);
      await mkdir(dir);
      // A host name, not 127.0.0.1: oras refuses a loopback realm unless the realm's
      // host name is the registry's; crane refuses one on a loopback IP literal.
      const host = `localhost:${registry.port}`;
      client = await clientCase.make({ dir, host, defer: (step) => cleanup.defer(step) });
      // The flags above must say what the client can do.
      expect(client.login !== undefined).toBe(clientCase.login);
      expect(client.useRefreshToken !== undefined).toBe(clientCase.refresh);
      if (!clientCase.login) row.results.login = "n/a";
      if (!clientCase.refresh) row.results.refresh = "n/a";
    });
    afterAll(() => {
      row.methods = summarize(recorder, `${clientCase.name} `);
    });

    if (clientCase.login) {
      it("logs in", async () => {
        mark("login");
        if (!client.login) throw new Error(`${clientCase.name} has no login`);
        const result = await client.login(ADMIN);
        row.results.login = result.code === 0 ? "ok" : "FAIL";
        expect(result.code, why()).toBe(0);
      });
    }

    it("pushes as admin, pulls back with the same digest", async () => {
      mark("push");
      const pushed = await client.push(image, repo, ADMIN);
      row.results.push = pushed.code === 0 ? "ok" : "FAIL";
      expect(pushed.code, why()).toBe(0);
      const held = await registryDigest(repo);
      if (client.preservesDigest) expect(held).toBe(image.manifestDigest);
      mark("pull");
      const pulled = await client.pull(repo, READER);
      row.results.pull = pulled.code === 0 && pulled.digest === held ? "ok" : "FAIL";
      expect(pulled.code, why()).toBe(0);
      expect(pulled.digest, why()).toBe(held);
    });

    it("refuses a push by the pull-only user", async () => {
      mark("refused push");
      const target = `${clientCase.name}/denied`;
      const pushed = await client.push(image, target, READER);
      row.results.refused = pushed.code !== 0 ? "ok" : "FAIL";
      expect(pushed.code, why()).not.toBe(0);
      expect(await registryDigest(target)).toBeNull();
    });

    it("copies to another repository, asking for both in one token request", async () => {
      mark("mount");
      const target = `${clientCase.name}/copy`;
      const copied = await client.copy(repo, target, ADMIN);
      expect(copied.code, why()).toBe(0);
      expect(await registryDigest(target)).toBe(await registryDigest(repo));
      const mounted = recorder
        .since(`${clientCase.name} mount`)
        .some(
          (r) =>
            r.status === 200 &&
            r.scopes.some((s) => s.startsWith(`repository:${target}:`) && s.includes("push")) &&
            r.scopes.some((s) => s === `repository:${repo}:pull`),
        );
      row.results.mount = mounted ? "ok" : "no mount";
      expect(
        mounted,
        `no token request named both repositories\n${JSON.stringify(recorder.since(`${clientCase.name} mount`))}`,
      ).toBe(true);
    });

    if (!clientCase.refresh) return;
    it("pulls with a refresh token kept where docker login leaves it", async () => {
      recorder.label("docker login emulation");
      const login = await fetch(`${realm}?service=${SERVICE}&offline_token=true&client_id=docker`, {
        headers: {
          authorization: `Basic ${Buffer.from(`${READER.username}:${READER.password}`).toString("base64")}`,
        },
      });
      const { refresh_token: token } = (await login.json()) as { refresh_token: string };
      if (!client.useRefreshToken || !client.pullWithStoredAuth) {
        throw new Error(`${clientCase.name} cannot use a stored refresh token`);
      }
      await client.useRefreshToken(READER.username, token);
      mark("refresh pull");
      const pulled = await client.pullWithStoredAuth(repo);
      const used = recorder
        .since(`${clientCase.name} refresh pull`)
        .some((r) => r.grantType === "refresh_token" && r.status === 200);
      row.results.refresh =
        pulled.code === 0 && used ? "ok" : pulled.code === 0 ? "no POST" : "FAIL";
      expect(pulled.code, why()).toBe(0);
      expect(pulled.digest, why()).toBe(await registryDigest(repo));
      expect(used, JSON.stringify(recorder.since(`${clientCase.name} refresh pull`))).toBe(true);
    });
  });
});

function printMatrix(): void {
  const steps = ["login", "push", "pull", "refused", "mount", "refresh"];
  const lines = [
    `| registry | client | ${steps.join(" | ")} | token requests seen |`,
    `| --- | --- | ${steps.map(() => "---").join(" | ")} | --- |`,
    ...rows.map(
      (row) =>
        `| ${row.registry} | ${row.client} | ${steps.map((s) => row.results[s] ?? "-").join(" | ")} | ${row.methods} |`,
    ),
  ];
  console.info(`\nclient x registry matrix\n${lines.join("\n")}\n`);
}
