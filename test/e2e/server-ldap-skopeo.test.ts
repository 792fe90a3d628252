// End to end: `regauth serve CONFIG`, a docker_auth-style YAML file whose users come
// from `ldap_auth` (OpenLDAP slapd, StartTLS with the test CA, a service account,
// groups from memberOf), is the token server of docker-registry 2.8; skopeo pushes and
// pulls as directory users.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buildOciImage, type OciImage } from "@regauth/example-standalone/demo-image";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cleanup } from "../support/cleanup.js";
import { checkPeers } from "../support/peers.js";
import { freePort } from "../support/ports.js";
import { type RegauthServe, runRegauth, startRegauthServe } from "../support/regauth-cli.js";
import { type RunningRegistry, startRegistry } from "../support/registry.js";
import { createSigningMaterial } from "../support/signing.js";
import { createSkopeo, type Skopeo } from "../support/skopeo.js";
import {
  type exampleDirectory,
  type RunningSlapd,
  SLAPD_PEERS,
  startExampleSlapd,
} from "../support/slapd.js";

const peers = checkPeers("docker-registry", "skopeo", ...SLAPD_PEERS);
const SERVICE = "registry.e2e.test";

describe.skipIf(!peers.ok)("regauth serve with ldap_auth (slapd) + registry 2.8 + skopeo", () => {
  const cleanup = new Cleanup();
  let slapd: RunningSlapd;
  let directory: ReturnType<typeof exampleDirectory>;
  let server: RegauthServe;
  let registry: RunningRegistry;
  let skopeo: Skopeo;
  let image: OciImage;
  let work: string;
  let configPath: string;
  const creds = (account: string) => ({
    username: account,
    password: directory.users[account]?.password ?? "",
  });
  const diagnostics = () =>
    `\n${skopeo.lastOutput()}\n--- regauth ---\n${server.log().slice(-3000)}\n--- slapd ---\n${slapd.logTail(20)}\n--- registry ---\n${registry.logTail(20)}`;
  const ref = (name: string) => `docker://${registry.host}/${name}:latest`;

  beforeAll(async () => {
    ({ slapd, directory } = await startExampleSlapd(cleanup, { tls: true }));
    const root = await cleanup.tempDir("server-ldap-");
    for (const sub of ["signing", "registry", "skopeo", "work"]) await mkdir(join(root, sub));
    work = join(root, "work");
    const signing = await createSigningMaterial(join(root, "signing"));
    await writeFile(join(root, "ldap-password"), `${directory.service.password}\n`);
    const port = await freePort();
    configPath = join(root, "auth_config.yml");
    // docker_auth's keys; relative paths are relative to this file.
    await writeFile(
      configPath,
      `server:
  addr: "127.0.0.1:${port}"
token:
  issuer: "regauth-e2e"
  expiration: 900
  certificate: ${signing.certificatePath}
  key: ${signing.keyPath}
ldap_auth:
  addr: 127.0.0.1:${slapd.port}
  tls: starttls
  ca_certificate: ${slapd.ca?.path}
  bind_dn: ${directory.service.dn}
  bind_password_file: ldap-password
  base: ou=people,${slapd.suffix}
  filter: (&(objectClass=inetOrgPerson)(uid=\${account}))
  labels:
    groups:
      attribute: memberOf
      parse_cn: true
      lower_case: true
acl:
  - match: {name: "\${labels:groups}/*"}
    actions: [pull, push]
    comment: "each group owns its namespace"
`,
    );
    server = await startRegauthServe({ cleanup, configPath });
    registry = await startRegistry({
      dir: join(root, "registry"),
      realm: `http://127.0.0.1:${port}/auth`,
      service: SERVICE,
      issuer: "regauth-e2e",
      rootCertBundlePath: signing.certificatePath,
    });
    cleanup.defer(() => registry.stop());
    skopeo = await createSkopeo(join(root, "skopeo"));
    image = await buildOciImage(join(work, "source"));
  });
  afterAll(() => cleanup.run());

  it("check shows the ldap_auth section as the authenticator", async () => {
    const { code, stdout, stderr } = await runRegauth(["check", configPath]);
    expect(code, stderr).toBe(0);
    expect(stdout).toContain("authenticators: ldap_auth\n");
    expect(stdout).toContain(
      `ldap_auth:      ldap://127.0.0.1:${slapd.port} with StartTLS, base "ou=people,${slapd.suffix}"`,
    );
    expect(stdout).toContain("labels groups <- memberOf (parse_cn) (lower_case)");
  });

  it("a directory user pushes to their group's namespace and pulls it back", async () => {
    const pushed = await skopeo.copy(image.reference, ref("qa/app"), {
      destCreds: creds("quinn"),
    });
    expect(pushed.code, diagnostics()).toBe(0);
    const pulled = await skopeo.copy(ref("qa/app"), `oci:${join(work, "pulled")}:latest`, {
      srcCreds: creds("alice"), // QA and Dev
    });
    expect(pulled.code, diagnostics()).toBe(0);
  });

  it("another group's namespace, a wrong password and an unknown user are refused", async () => {
    const otherGroup = await skopeo.copy(image.reference, ref("qa/bobs"), {
      destCreds: creds("bob"), // Dev only
    });
    expect(otherGroup.code, diagnostics()).not.toBe(0);
    const wrong = await skopeo.inspect(ref("qa/app"), { username: "quinn", password: "nope" });
    expect(wrong.code, diagnostics()).not.toBe(0);
    const unknown = await skopeo.inspect(ref("qa/app"), { username: "nobody", password: "x" });
    expect(unknown.code, diagnostics()).not.toBe(0);
    expect(server.process.exitCode).toBeNull();
  });
});
