// End to end: `regauth serve CONFIG` (a docker_auth-style YAML file: static users and an
// ext_auth program) is the token server of docker-registry 2.8, and skopeo pushes and
// pulls through it.
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { hashPassword } from "@regauth/authn";
import { buildOciImage, type OciImage } from "@regauth/example-standalone/demo-image";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cleanup } from "../support/cleanup.js";
import { checkPeers } from "../support/peers.js";
import { freePort } from "../support/ports.js";
import { type RegauthServe, startRegauthServe } from "../support/regauth-cli.js";
import { type RunningRegistry, startRegistry } from "../support/registry.js";
import { createSigningMaterial } from "../support/signing.js";
import { createSkopeo, type Skopeo } from "../support/skopeo.js";

const peers = checkPeers("docker-registry", "skopeo", "openssl");
const SERVICE = "registry.e2e.test";

/** An ext_auth program: "robot" with password "beep-boop" is allowed, with labels. */
const EXT_AUTH = `#!/bin/sh
read -r user password
[ "$user" = robot ] || exit 2
[ "$password" = beep-boop ] || exit 1
echo '{"labels":{"teams":["robots"]}}'
`;

describe.skipIf(!peers.ok)("regauth serve from a YAML file + registry 2.8 + skopeo", () => {
  const cleanup = new Cleanup();
  let server: RegauthServe;
  let registry: RunningRegistry;
  let skopeo: Skopeo;
  let image: OciImage;
  let work: string;
  const diagnostics = () =>
    `\n${skopeo.lastOutput()}\n--- regauth ---\n${server.log().slice(-3000)}\n--- registry ---\n${registry.logTail(20)}`;

  beforeAll(async () => {
    const root = await cleanup.tempDir("server-");
    for (const sub of ["signing", "registry", "skopeo", "work"]) await mkdir(join(root, sub));
    work = join(root, "work");
    const signing = await createSigningMaterial(join(root, "signing"));
    const program = join(root, "ext-auth.sh");
    await writeFile(program, EXT_AUTH);
    await chmod(program, 0o755);
    const port = await freePort();
    const configPath = join(root, "auth_config.yml");
    await writeFile(
      configPath,
      `# docker_auth style
server:
  addr: "127.0.0.1:${port}"
token:
  issuer: "regauth-e2e"
  expiration: 900
  certificate: ${signing.certificatePath}
  key: ${signing.keyPath}
users:
  admin:
    password: "${await hashPassword("admin-e2e-password", 4)}"
  reader:
    password: "\${READER_HASH}"
ext_auth:
  command: ${program}
acl:
  - match: {account: admin}
    actions: ["*"]
    comment: "admin does everything"
  - match: {labels: {teams: robots}, name: "robots/*"}
    actions: [pull, push]
    comment: "robots push to robots/*"
  - match: {account: "/.+/"}
    actions: [pull]
    comment: "everyone else pulls"
`,
    );
    const env = { READER_HASH: await hashPassword("reader-e2e-password", 4) };
    server = await startRegauthServe({ cleanup, configPath, env });
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

  const ref = (name: string) => `docker://${registry.host}/${name}:latest`;

  it("a static user pushes; another pulls; a reader cannot push", async () => {
    const pushed = await skopeo.copy(image.reference, ref("team/app"), {
      destCreds: { username: "admin", password: "admin-e2e-password" },
    });
    expect(pushed.code, diagnostics()).toBe(0);
    const inspected = await skopeo.inspect(ref("team/app"), {
      username: "reader",
      password: "reader-e2e-password",
    });
    expect(inspected.digest, diagnostics()).toBe(image.manifestDigest);
    const refused = await skopeo.copy(image.reference, ref("team/other"), {
      destCreds: { username: "reader", password: "reader-e2e-password" },
    });
    expect(refused.code, diagnostics()).not.toBe(0);
  });

  it("the ext_auth program's user pushes where its labels allow", async () => {
    const robot = { username: "robot", password: "beep-boop" };
    const pushed = await skopeo.copy(image.reference, ref("robots/app"), { destCreds: robot });
    expect(pushed.code, diagnostics()).toBe(0);
    const pulled = await skopeo.copy(ref("robots/app"), `oci:${join(work, "pulled")}:latest`, {
      srcCreds: robot,
    });
    expect(pulled.code, diagnostics()).toBe(0);
    const wrong = await skopeo.inspect(ref("robots/app"), { username: "robot", password: "nope" });
    expect(wrong.code, diagnostics()).not.toBe(0);
  });
});
