import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConfiguredHandler } from "../src/create-configured-handler.js";
import { loadConfig } from "../src/load-config.js";
import { EXT_AUTH, EXT_AUTHZ, keyDir } from "./support.js";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await keyDir());
});
afterAll(() => cleanup());

// A well-formed bcrypt hash (of no password in use here): loading only checks the format.
const ADMIN_HASH = "$2y$05$kpXjSNydfbBQPkdiKLcIheqPAL7YH6mmEbs6tkzN4KVC6ZKfGyX6y";

/** A docker_auth config touching every section we support. */
const FULL = `
server:
  addr: ":5001"
  path_prefix: /registry-auth
  real_ip_header: X-Forwarded-For
  real_ip_pos: -1
token:
  issuer: "Acme auth server"
  expiration: 900
  certificate: signing-cert.pem
  key: signing-key.pem
  disable_legacy_key_id: true
users:
  admin:
    password: "${ADMIN_HASH}"
    labels: { groups: [admins] }
  "": {}
acl:
  - match: {account: "admin"}
    actions: ["*"]
    comment: "admin does everything"
  - match: {account: "/.+/", name: "\${account}/*"}
    actions: ["*"]
    comment: "own namespace"
ext_auth:
  command: ${EXT_AUTH}
  args: ["--flag"]
  timeout_ms: 2000
ext_authz:
  command: ${EXT_AUTHZ}
`;

async function configError(text: string, env: Record<string, string> = {}): Promise<string> {
  try {
    await loadConfig({ text, baseDir: dir }, { env });
  } catch (error) {
    expect((error as { code: string }).code).toBe("ERR_CONFIG_INVALID");
    return (error as Error).message;
  }
  throw new Error("expected the config to be refused");
}

const MINIMAL = (extra: string) => `
server: {addr: "127.0.0.1:5001"}
token: {issuer: x, certificate: signing-cert.pem, key: signing-key.pem}
users: {}
acl: []
${extra}`;

describe("loadConfig", () => {
  it("loads every supported docker_auth section into the typed config", async () => {
    const config = await loadConfig({ text: FULL, baseDir: dir });
    expect(config.server).toEqual({
      addr: ":5001",
      host: undefined,
      port: 5001,
      pathPrefix: "/registry-auth",
      certificate: undefined,
      key: undefined,
      realIpHeader: "X-Forwarded-For",
      realIpPos: -1,
    });
    expect(config.token).toEqual({
      issuer: "Acme auth server",
      expiration: 900,
      certificate: `${dir}/signing-cert.pem`,
      key: `${dir}/signing-key.pem`,
      disableLegacyKeyId: true,
      services: undefined,
      x5c: false,
      refreshTokens: undefined,
    });
    expect(config.users).toEqual({
      admin: { password: ADMIN_HASH, labels: { groups: ["admins"] } },
      "": { labels: {} },
    });
    expect(config.acl?.[1]).toEqual({
      match: { account: "/.+/", name: "${account}/*" },
      actions: ["*"],
      comment: "own namespace",
    });
    expect(config.extAuth).toEqual({
      command: EXT_AUTH,
      args: ["--flag"],
      timeoutMs: 2000,
      maxConcurrent: 8,
      maxOutputBytes: 65536,
    });
    expect(config.extAuthz?.command).toBe(EXT_AUTHZ);
    const built = await createConfiguredHandler(config);
    expect(built.authenticators.map((a) => a.name)).toEqual(["static", "ext_auth"]);
    expect(built.authorizers.map((a) => a.name)).toEqual(["acl", "ext_authz"]);
    expect(built.issuer.keyId).toMatch(/^[A-Za-z0-9_-]{43}$/); // RFC 7638 thumbprint
  });

  it("defaults: path_prefix '', real_ip_pos 0, expiration 300, libtrust kid", async () => {
    const config = await loadConfig({ text: MINIMAL(""), baseDir: dir });
    expect(config.server.pathPrefix).toBe("");
    expect(config.server.realIpPos).toBe(0);
    expect(config.token.expiration).toBe(300);
    const built = await createConfiguredHandler(config);
    expect(built.issuer.keyId).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
  });

  it("signs with the server's TLS pair when token has none, as docker_auth", async () => {
    const config = await loadConfig({
      text: `
server: {addr: ":5001", certificate: signing-cert.pem, key: signing-key.pem}
token: {issuer: x}
users: {}
acl: []`,
      baseDir: dir,
    });
    expect(config.token.key).toBe(`${dir}/signing-key.pem`);
  });

  it("replaces upper-case ${ENV} references outside the acl, and reads password files", async () => {
    const text = `
server: {addr: "127.0.0.1:\${PORT}"}
token: {issuer: "\${ISSUER}", certificate: signing-cert.pem, key: signing-key.pem}
users:
  ci: {password: "\${CI_HASH}"}
  literal: {password: "${ADMIN_HASH}", labels: {note: ["$\${NOT_A_VAR}"]}}
acl:
  - match: {name: "\${account}/*"}
    actions: [pull]
`;
    const config = await loadConfig(
      { text, baseDir: dir },
      { env: { PORT: "6001", ISSUER: "from-env", CI_HASH: ADMIN_HASH } },
    );
    expect(config.server.port).toBe(6001);
    expect(config.token.issuer).toBe("from-env");
    expect(config.users?.ci?.password).toBe(ADMIN_HASH);
    expect(config.users?.literal?.labels).toEqual({ note: ["${NOT_A_VAR}"] });
    expect(config.acl?.[0]?.match?.name).toBe("${account}/*");
  });

  it("names an unset variable by path, never printing values", async () => {
    expect(await configError(MINIMAL("ext_auth: {command: '${HELPER}'}"))).toBe(
      "ext_auth.command: environment variable HELPER is not set",
    );
  });

  it("reads users.NAME.password_file", async () => {
    const { writeFile } = await import("node:fs/promises");
    await writeFile(`${dir}/ci.hash`, `${ADMIN_HASH}\n`);
    const config = await loadConfig({
      text: MINIMAL("").replace("users: {}", "users: {ci: {password_file: ci.hash}}"),
      baseDir: dir,
    });
    expect(config.users?.ci?.password).toBe(ADMIN_HASH);
    expect(
      await configError(MINIMAL("").replace("users: {}", "users: {ci: {password_file: nope}}")),
    ).toMatch(/^users\.ci\.password_file: cannot read .*nope: ENOENT$/);
  });

  describe("errors name the path", () => {
    it("malformed YAML: line and column", async () => {
      expect(await configError("server:\n  addr: [1, 2\ntoken: {}\n")).toMatch(
        /^config:\d+:\d+: invalid YAML: /,
      );
      expect(await configError("a: 1\na: 2\n")).toMatch(/^config:2:1: invalid YAML: .*unique/i);
    });

    it("wrong types", async () => {
      expect(await configError(MINIMAL("").replace("acl: []", "acl: {}"))).toBe(
        "acl: expected an array of acl entries, got an object",
      );
      expect(
        await configError(MINIMAL("").replace("issuer: x", "issuer: x, expiration: '900'")),
      ).toMatch(/^token\.expiration: invalid input: expected number, received string$/);
      expect(await configError(MINIMAL("").replace("issuer: x", "issuer: x, expiration: 5"))).toBe(
        "token.expiration: expected at least 60 seconds",
      );
    });

    it("unknown keys, at any depth", async () => {
      expect(await configError(MINIMAL("colour: blue"))).toBe("colour: unknown key");
      expect(
        await configError(MINIMAL("").replace("acl: []", "acl: [{match: {nmae: x}, actions: []}]")),
      ).toBe("acl[0].match.nmae: unknown key");
      expect(
        await configError(MINIMAL("").replace("users: {}", "users: {a: {pasword: x}}")),
      ).toMatch(/users\.a\.pasword: unknown key/);
    });

    it("docker_auth keys regauth does not offer", async () => {
      expect(await configError(MINIMAL("github_auth: {client_id: x}"))).toBe(
        "github_auth: docker_auth's github_auth is not supported: GitHub is not an OpenID Connect provider for users; use ext_auth or a custom Authenticator",
      );
      expect(
        await configError(
          MINIMAL("").replace('addr: "127.0.0.1:5001"', 'addr: ":5001", letsencrypt: {email: a}'),
        ),
      ).toBe("server.letsencrypt: letsencrypt is not supported: give certificate and key");
      expect(await configError(MINIMAL("acl_xorm: {database_type: sqlite3}"))).toBe(
        "acl_xorm: docker_auth's acl_xorm is not supported: SQL backends are not offered; use ext_authz or a custom Authorizer",
      );
    });

    it("bad regular expressions and CIDR blocks", async () => {
      const acl = (match: string) =>
        MINIMAL("").replace("acl: []", `acl: [{match: ${match}, actions: []}]`);
      expect(await configError(acl('{name: "/(unclosed/"}'))).toMatch(
        /^acl\[0\]\.match\.name: invalid regular expression: /,
      );
      expect(await configError(acl('{ip: "10.0.0.0/33"}'))).toMatch(/^acl\[0\]\.match\.ip: /);
    });

    it("bcrypt hashes, missing sections, half a key pair", async () => {
      expect(
        await configError(MINIMAL("").replace("users: {}", "users: {a: {password: plain}}")),
      ).toBe("users.a.password: expected a bcrypt hash ($2a$, $2b$ or $2y$)");
      expect(await configError(MINIMAL("").replace("users: {}\n", ""))).toBe(
        "users: no authentication configured: add users (an empty map denies everyone), ext_auth, ldap_auth, mongo_auth, oidc_auth or google_auth",
      );
      expect(await configError(MINIMAL("").replace(", key: signing-key.pem", ""))).toBe(
        "token.key: required with the other of certificate and key",
      );
      expect(await configError(MINIMAL("").replace('"127.0.0.1:5001"', '"localhost"'))).toBe(
        "server.addr: expected HOST:PORT, :PORT or [IPv6]:PORT",
      );
      // A client percent-encodes `{` or `é`: such a prefix would never match.
      for (const prefix of ["/r{g}", "/régistry", "/a%2Fb", "/a b"]) {
        expect(
          await configError(
            MINIMAL("").replace('"127.0.0.1:5001"', `"127.0.0.1:5001", path_prefix: "${prefix}"`),
          ),
        ).toMatch(/^server\.path_prefix: expected an absolute path/);
      }
    });

    it("keys and programs are checked when built", async () => {
      const config = await loadConfig({
        text: MINIMAL("").replace("key: signing-key.pem", "key: missing.pem"),
        baseDir: dir,
      });
      await expect(createConfiguredHandler(config)).rejects.toThrow(
        /^token\.key: cannot read .*missing\.pem: ENOENT$/,
      );
      const ext = await loadConfig({
        text: MINIMAL("ext_authz: {command: no-such-helper}"),
        baseDir: dir,
      });
      await expect(createConfiguredHandler(ext)).rejects.toThrow(
        "ext_authz.command: not found on PATH",
      );
    });
  });
});
