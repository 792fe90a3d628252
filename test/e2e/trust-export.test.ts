// The trust export against the real registries: docker-registry 2.8 and
// distribution 3.x start with the exported files and accept the tokens that
// checkRegistryTrust says they accept, and refuse (or do not start with) what
// it says they refuse.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  checkRegistryTrust,
  createTokenIssuer,
  exportRegistryTrust,
  type RegistryTokenIssuer,
  type TokenIssuerOptions,
  writeRegistryTrust,
} from "@regauth/token";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cleanup } from "../support/cleanup.js";
import { startAnyRegistry } from "../support/distribution3.js";
import { runChecked } from "../support/exec.js";
import { checkPeers, peerPath } from "../support/peers.js";
import { type RunningRegistry, startRegistry } from "../support/registry.js";
import { createSigningMaterial, type SigningMaterial } from "../support/signing.js";

const peers = checkPeers("docker-registry", "openssl");
const peers3 = checkPeers("registry", "openssl");
const SERVICE = "registry.trust-e2e.test";
const ISSUER = "regauth-trust-e2e";

/** A CA, an intermediate CA and a leaf key with its certificate, made with openssl. */
async function makeChain(dir: string) {
  const openssl = peerPath("openssl");
  const run = (...args: string[]) => runChecked(openssl, args, { cwd: dir });
  const ca = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign"].join("\n");
  await writeFile(join(dir, "ca.ext"), `${ca}\n`);
  await writeFile(
    join(dir, "leaf.ext"),
    "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n",
  );
  for (const name of ["root", "inter", "leaf"]) {
    await run(
      "genpkey",
      "-algorithm",
      "EC",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-out",
      `${name}.key`,
    );
  }
  await run(
    "req",
    "-x509",
    "-new",
    "-key",
    "root.key",
    "-subj",
    "/CN=e2e root",
    "-days",
    "30",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-out",
    "root.pem",
  );
  for (const [name, issuer, ext] of [
    ["inter", "root", "ca.ext"],
    ["leaf", "inter", "leaf.ext"],
  ] as const) {
    await run(
      "req",
      "-new",
      "-key",
      `${name}.key`,
      "-subj",
      `/CN=e2e ${name}`,
      "-out",
      `${name}.csr`,
    );
    await run(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${issuer}.pem`,
      "-CAkey",
      `${issuer}.key`,
      "-set_serial",
      String(Date.now()),
      "-days",
      "30",
      "-extfile",
      ext,
      "-out",
      `${name}.pem`,
    );
  }
  const read = (file: string) => readFile(join(dir, file), "utf8");
  return {
    leafKey: await read("leaf.key"),
    leaf: await read("leaf.pem"),
    inter: await read("inter.pem"),
  };
}

describe.skipIf(!peers.ok)("trust export + docker-registry 2.8", () => {
  const cleanup = new Cleanup();
  let dir: string;
  let signing: SigningMaterial;
  let chain: Awaited<ReturnType<typeof makeChain>>;

  /** Starts a registry whose rootcertbundle is what exportRegistryTrust wrote for `issuers`. */
  async function registryTrusting(name: string, bundle: string): Promise<RunningRegistry> {
    const bundlePath = join(dir, `${name}-bundle.pem`);
    await writeFile(bundlePath, bundle);
    const registry = await startRegistry({
      dir: await cleanup.tempDir(`trust-${name}-`),
      realm: "http://127.0.0.1:9/auth",
      service: SERVICE,
      issuer: ISSUER,
      rootCertBundlePath: bundlePath,
    });
    cleanup.defer(() => registry.stop());
    return registry;
  }

  /** Whether the registry accepts a catalog token from `issuer` (200) or not (401). */
  async function registryAccepts(registry: RunningRegistry, issuer: RegistryTokenIssuer) {
    const { token } = await issuer.issue({
      subject: "admin",
      audience: SERVICE,
      access: [{ type: "registry", name: "catalog", actions: ["*"] }],
    });
    const response = await fetch(`${registry.url}/v2/_catalog`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    await response.arrayBuffer();
    expect([200, 401], registry.logTail()).toContain(response.status);
    return response.status === 200;
  }

  const issuerWith = (options: Partial<TokenIssuerOptions>) =>
    createTokenIssuer({
      issuer: ISSUER,
      privateKey: signing.privateKeyPem,
      certificateChain: signing.certificatePem,
      ...options,
    });

  beforeAll(async () => {
    dir = await cleanup.tempDir("trust-");
    signing = await createSigningMaterial(dir);
    chain = await makeChain(dir);
  });
  afterAll(() => cleanup.run());

  it("the bundle written from a self-signed key: 2.8 takes libtrust kid and x5c, refuses a thumbprint kid, as checked", async () => {
    const trust = exportRegistryTrust(issuerWith({}));
    const bundlePath = join(dir, "written-bundle.pem");
    await writeRegistryTrust(trust, { rootCertBundlePath: bundlePath });
    const registry = await registryTrusting("self-signed", await readFile(bundlePath, "utf8"));
    const modes: [string, Partial<TokenIssuerOptions>, boolean][] = [
      ["libtrust kid", { keyId: "libtrust" }, true],
      ["x5c", { keyId: "none", x5c: true }, true],
      ["thumbprint kid", { keyId: "thumbprint" }, false],
    ];
    for (const [mode, options, expected] of modes) {
      const issuer = issuerWith(options);
      const report = await checkRegistryTrust({
        issuer,
        service: SERVICE,
        ...trust,
        registries: ["2.8"],
      });
      expect(report.ok, `${mode}: ${report.message}`).toBe(expected);
      expect(await registryAccepts(registry, issuer), mode).toBe(expected);
    }
  });

  it("an x5c chain through an intermediate: the exported bundle (leaf + last certificate) is enough", async () => {
    const issuer = issuerWith({
      privateKey: chain.leafKey,
      certificateChain: `${chain.leaf}${chain.inter}`,
      keyId: "none",
      x5c: true,
    });
    const trust = exportRegistryTrust(issuer);
    const report = await checkRegistryTrust({
      issuer,
      service: SERVICE,
      ...trust,
      registries: ["2.8"],
    });
    expect(report.ok, report.message).toBe(true);
    const registry = await registryTrusting("chain", trust.rootCertBundle as string);
    expect(await registryAccepts(registry, issuer)).toBe(true);
  });

  it("a bundle that does not hold the chain: refused by the registry, and by the check", async () => {
    const issuer = issuerWith({
      privateKey: chain.leafKey,
      certificateChain: `${chain.leaf}${chain.inter}`,
      keyId: "none",
      x5c: true,
    });
    const unrelated = exportRegistryTrust(issuerWith({}));
    const report = await checkRegistryTrust({
      issuer,
      service: SERVICE,
      ...unrelated,
      registries: ["2.8"],
    });
    expect(report.ok).toBe(false);
    expect(report.message).toMatch(
      /^registry 2\.8 would reject these tokens: .*x5c certificate chain/,
    );
    const registry = await registryTrusting("unrelated", unrelated.rootCertBundle as string);
    expect(await registryAccepts(registry, issuer)).toBe(false);
  });

  it("an Ed25519 certificate in the bundle: the check says 2.8 would not start, and it does not", async () => {
    const openssl = peerPath("openssl");
    await runChecked(openssl, ["genpkey", "-algorithm", "ed25519", "-out", "ed.key"], { cwd: dir });
    await runChecked(
      openssl,
      ["req", "-x509", "-new", "-key", "ed.key", "-subj", "/CN=ed", "-days", "3", "-out", "ed.pem"],
      { cwd: dir },
    );
    const issuer = issuerWith({});
    const bundle = `${exportRegistryTrust(issuer).rootCertBundle}${await readFile(join(dir, "ed.pem"), "utf8")}`;
    const report = await checkRegistryTrust({
      issuer,
      service: SERVICE,
      rootCertBundle: bundle,
      registries: ["2.8"],
    });
    expect(report.message).toMatch(/^registry 2\.8 would reject these tokens: it would not start/);
    await expect(registryTrusting("ed25519", bundle)).rejects.toThrow(
      /docker-registry (exited|did not come up)/,
    );
  });
});

describe.skipIf(!peers3.ok)("trust export + distribution 3.x", () => {
  const cleanup = new Cleanup();
  let dir: string;
  let signing: SigningMaterial;

  const issuerWith = (options: Partial<TokenIssuerOptions>) =>
    createTokenIssuer({
      issuer: ISSUER,
      privateKey: signing.privateKeyPem,
      certificateChain: signing.certificatePem,
      ...options,
    });

  async function accepts(registry: RunningRegistry, issuer: RegistryTokenIssuer) {
    const { token } = await issuer.issue({
      subject: "admin",
      audience: SERVICE,
      access: [{ type: "registry", name: "catalog", actions: ["*"] }],
    });
    const response = await fetch(`${registry.url}/v2/_catalog`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    await response.arrayBuffer();
    expect([200, 401], registry.logTail()).toContain(response.status);
    return response.status === 200;
  }

  beforeAll(async () => {
    dir = await cleanup.tempDir("trust3-");
    signing = await createSigningMaterial(dir);
  });
  afterAll(() => cleanup.run());

  const modes: [string, Partial<TokenIssuerOptions>][] = [
    ["libtrust kid", { keyId: "libtrust" }],
    ["thumbprint kid", { keyId: "thumbprint" }],
    ["x5c", { keyId: "none", x5c: true }],
  ];

  it.each([
    [
      "the exported bundle alone",
      "bundle",
      { "libtrust kid": false, "thumbprint kid": true, x5c: true },
    ],
    [
      "the exported JWKS alone",
      "jwks",
      { "libtrust kid": true, "thumbprint kid": false, x5c: false },
    ],
  ] as const)("with %s, 3.x accepts what the check says", async (_label, given, expected) => {
    const trust = exportRegistryTrust(issuerWith({ keyId: "libtrust" }));
    const rootCertBundlePath = join(dir, `${given}-bundle.pem`);
    const jwksPath = join(dir, `${given}-jwks.json`);
    await writeRegistryTrust(trust, { rootCertBundlePath, jwksPath });
    const registry = await startAnyRegistry({
      dir: await cleanup.tempDir(`trust3-${given}-`),
      realm: "http://127.0.0.1:9/auth",
      service: SERVICE,
      issuer: ISSUER,
      flavor: given === "bundle" ? { kind: "3.x", rootCertBundlePath } : { kind: "3.x", jwksPath },
    });
    cleanup.defer(() => registry.stop());
    for (const [mode, options] of modes) {
      const issuer = issuerWith(options);
      const report = await checkRegistryTrust({
        issuer,
        service: SERVICE,
        ...(given === "bundle" ? { rootCertBundle: trust.rootCertBundle } : { jwks: trust.jwks }),
        registries: ["3.x"],
      });
      expect(report.ok, `${mode}: ${report.message}`).toBe(expected[mode as keyof typeof expected]);
      expect(await accepts(registry, issuer), mode).toBe(expected[mode as keyof typeof expected]);
    }
  });
});
