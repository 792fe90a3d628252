// createLdapAuthenticator's options, checked at construction, and the parts
// that need no directory: escaping, common names, no I/O for empty credentials.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AuthnRequest, type Logger, RegauthError } from "@regauth/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLdapAuthenticator, type LdapAuthenticatorOptions } from "../src/ldap/index.js";
import { commonNameOf } from "../src/ldap/internal/common-name.js";
import { escapeDnValue, escapeFilterValue, fillTemplate } from "../src/ldap/internal/escape.js";

const BASE: LdapAuthenticatorOptions = {
  url: "ldap://127.0.0.1:1",
  base: "dc=example,dc=org",
  filter: "(uid=${account})",
};
const SECRET = "s3cret-bind-password";

function asked(account: string, password: string): AuthnRequest {
  return { account, password, service: "registry.test", clientIp: undefined };
}

function configErrorOf(options: unknown): RegauthError {
  try {
    createLdapAuthenticator(options as LdapAuthenticatorOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(RegauthError);
    expect((error as RegauthError).code).toBe("ERR_CONFIG_INVALID");
    return error as RegauthError;
  }
  throw new Error("expected ERR_CONFIG_INVALID, nothing was thrown");
}

/** A logger that keeps every call. */
function recordingLogger(): Logger & { readonly lines: Array<[string, unknown, string]> } {
  const lines: Array<[string, unknown, string]> = [];
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => {
    lines.push([level, fields, message]);
  };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-ldap-options-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("createLdapAuthenticator options", () => {
  it.each([
    [{ url: "http://ldap.example.org" }, "url: expected an ldap:// or ldaps:// url"],
    [{ url: "not a url" }, "url: expected an ldap:// or ldaps:// url"],
    [{ url: ["ldap://a.example.org", "ftp://b"] }, "url[1]: expected an ldap:// or ldaps:// url"],
    [{ url: "ldap://ldap.example.org/dc=example" }, "url: expected scheme, host and port only"],
    [{ url: "ldap://cn=x:pw@ldap.example.org" }, "url: credentials do not belong in the url"],
    [{ url: [] }, "url: "],
    [{ filter: "(uid=alice)" }, "filter: expected ${account} in the template"],
    [{ filter: "(uid=${user})" }, "filter: expected ${account} in the template"],
    [{ filter: "(&(uid=${account})(ou=${ou}))" }, "filter: unknown placeholder ${ou}"],
    [{ filter: "(|(uid=${account})" }, "filter: expected an RFC 4515 filter in parentheses"],
    [{ filter: "(uid=${account}))" }, "filter: expected an RFC 4515 filter in parentheses"],
    [{ filter: "(uid=${account}" }, "filter: expected an RFC 4515 filter in parentheses"],
    [{ base: "" }, "base: "],
    [
      { url: "ldaps://ldap.example.org", startTls: true },
      "startTls: not with an ldaps:// url (url[0])",
    ],
    [{ bindDn: "cn=registry,dc=example,dc=org" }, "bindPassword: required with bindDn"],
    [{ bindPassword: SECRET }, "bindDn: required with a bind password"],
    [
      { bindDn: "cn=r", bindPassword: SECRET, bindPasswordFile: "/x" },
      "bindPasswordFile: give bindPassword or bindPasswordFile, not both",
    ],
    [{ bindDn: "cn=r", bindPassword: "" }, "bindPassword: must not be empty"],
    [
      {
        bindDn: "cn=r",
        bindPassword: SECRET,
        initialBindAsUser: "uid=${account},dc=example,dc=org",
      },
      "initialBindAsUser: cannot be combined with bindDn",
    ],
    [
      { initialBindAsUser: "uid=alice,dc=example,dc=org" },
      "initialBindAsUser: expected ${account} in the template",
    ],
    [{ ca: "-----BEGIN CERTIFICATE-----" }, "ca: no url uses TLS (ldaps:// or startTls)"],
    [{ caFile: "/etc/ssl/ca.pem" }, "caFile: no url uses TLS"],
    [{ insecureSkipTlsVerify: true }, "insecureSkipTlsVerify: no url uses TLS"],
    [{ connectTimeoutMs: 0 }, "connectTimeoutMs: "],
    [{ operationTimeoutMs: 1.5 }, "operationTimeoutMs: "],
    [{ maxConnections: 0 }, "maxConnections: "],
    [
      { labels: { groups: { attribute: "member of" } } },
      "labels.groups.attribute: expected an attribute name",
    ],
    [
      { labels: { groups: { attribute: "memberOf", parseCn: true } } },
      "labels.groups.parseCn: unknown key",
    ],
    [{ nmae: "ldap" }, "nmae: unknown key"],
    [{ logger: console.log }, "logger: expected a logger"],
  ])("refuses %j", (override, message) => {
    const error = configErrorOf({ ...BASE, ...override });
    expect(error.message).toContain(message);
    expect(error.message).not.toContain(SECRET);
  });

  it("names a bad url in a list by its index and never echoes it", () => {
    const error = configErrorOf({
      ...BASE,
      url: ["ldap://ok.example.org", `ldap://u:${SECRET}@x`],
    });
    expect(error.message).toBe(
      "url[1]: credentials do not belong in the url: use bindDn and bindPassword",
    );
  });

  it("reads the bind password from a file, dropping trailing line breaks", async () => {
    const path = join(dir, "bind-password");
    await writeFile(path, `${SECRET}\n`);
    expect(() =>
      createLdapAuthenticator({ ...BASE, bindDn: "cn=registry", bindPasswordFile: path }),
    ).not.toThrow();
    await writeFile(path, "\n\n");
    expect(configErrorOf({ ...BASE, bindDn: "cn=registry", bindPasswordFile: path }).message).toBe(
      "bindPasswordFile: the file is empty (an empty password would be an anonymous bind)",
    );
    expect(
      configErrorOf({ ...BASE, bindDn: "cn=r", bindPasswordFile: join(dir, "missing") }).message,
    ).toBe(`bindPasswordFile: cannot read ${join(dir, "missing")}`);
  });

  it("reads CA files at construction and names a bad one", async () => {
    const notPem = join(dir, "not-pem.txt");
    await writeFile(notPem, "hello");
    const tls = { ...BASE, url: "ldaps://ldap.example.org" };
    expect(configErrorOf({ ...tls, caFile: notPem }).message).toBe(
      `caFile: expected PEM certificates in ${notPem}, found none`,
    );
    expect(
      configErrorOf({ ...tls, caFile: ["/etc/hostname", join(dir, "nope.pem")] }).message,
    ).toMatch(/^caFile\[(0|1)\]: /);
  });

  it("warns at construction when certificate checks are off, naming the option", () => {
    const logger = recordingLogger();
    createLdapAuthenticator({
      ...BASE,
      url: "ldaps://127.0.0.1:1",
      insecureSkipTlsVerify: true,
      logger,
    });
    const warnings = logger.lines.filter(([level]) => level === "warn");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.[2]).toContain("insecureSkipTlsVerify");
    expect(warnings[0]?.[2]).toContain("TLS certificate verification is OFF");
  });

  it("warns when passwords would cross the network in clear text, not on loopback", () => {
    const remote = recordingLogger();
    createLdapAuthenticator({ ...BASE, url: "ldap://ldap.example.org", logger: remote });
    expect(remote.lines.map(([level, , message]) => [level, message])).toEqual([
      ["warn", "ldap: passwords go to the directory in clear text; use ldaps:// or startTls"],
    ]);
    const local = recordingLogger();
    createLdapAuthenticator({
      ...BASE,
      url: ["ldap://127.0.0.1:389", "ldap://localhost"],
      logger: local,
    });
    createLdapAuthenticator({
      ...BASE,
      url: "ldap://ldap.example.org",
      startTls: true,
      logger: local,
    });
    expect(local.lines).toEqual([]);
  });

  it("connects to nothing at construction, nor for an empty account or password", async () => {
    // 127.0.0.1:1 refuses connections: any attempt would throw.
    const ldap = createLdapAuthenticator({ ...BASE, bindDn: "cn=r", bindPassword: SECRET });
    expect(ldap.name).toBe("ldap");
    expect(await ldap.authenticate(asked("alice", ""))).toEqual({ result: "no-match" });
    expect(await ldap.authenticate(asked("", "pw"))).toEqual({ result: "no-match" });
    expect(await ldap.authenticate(asked("", ""))).toEqual({ result: "no-match" });
    await expect(ldap.authenticate(asked("alice", "pw"))).rejects.toMatchObject({
      code: "ERR_BACKEND_UNAVAILABLE",
      message: "ldap: cannot connect to the directory",
    });
    await ldap.close();
  });

  it("throws ERR_BACKEND_UNAVAILABLE after close", async () => {
    const ldap = createLdapAuthenticator(BASE);
    await ldap.close();
    await expect(ldap.authenticate(asked("alice", "pw"))).rejects.toMatchObject({
      code: "ERR_BACKEND_UNAVAILABLE",
      message: "ldap: the authenticator is closed",
    });
  });
});

describe("RFC 4515 filter escaping", () => {
  it.each([
    ["alice", "alice"],
    ["*", "\\2a"],
    [")(uid=*", "\\29\\28uid=\\2a"],
    ["admin)(|(uid=*", "admin\\29\\28|\\28uid=\\2a"],
    ["a\\b", "a\\5cb"],
    ["nul\u0000", "nul\\00"],
    ["jöns", "jöns"],
    ["anna maria", "anna maria"],
    ["$&$1", "$&$1"],
  ])("%j becomes %j", (value, escaped) => {
    expect(escapeFilterValue(value)).toBe(escaped);
  });

  it("puts the value in literally, replacement patterns included", () => {
    expect(fillTemplate("(|(uid=${account})(mail=${account}))", "$&")).toBe("(|(uid=$&)(mail=$&))");
  });
});

describe("RFC 4514 DN value escaping", () => {
  it.each([
    ["alice", "alice"],
    ["alice,ou=admins", "alice\\,ou\\=admins"],
    ['a+b"c;d<e>f\\g', 'a\\+b\\"c\\;d\\<e\\>f\\\\g'],
    [" lead", "\\ lead"],
    ["#hash", "\\#hash"],
    ["trail ", "trail\\ "],
    [" ", "\\ "],
    ["back\\ ", "back\\\\\\ "],
    ["mid#dle sp", "mid#dle sp"],
    ["nul\u0000", "nul\\00"],
    ["jöns", "jöns"],
  ])("%j becomes %j", (value, escaped) => {
    expect(escapeDnValue(value)).toBe(escaped);
  });
});

describe("common name of a DN (parseCN)", () => {
  it.each([
    ["cn=QA,ou=groups,dc=example,dc=org", "QA"],
    ["CN=Domain Users,CN=Users,DC=corp,DC=example", "Domain Users"],
    ["cn=R\\26D\\2c Europe,ou=groups", "R&D, Europe"],
    ["cn=R&D\\, Europe,ou=groups", "R&D, Europe"],
    ["cn=J\\c3\\b6ns,ou=groups", "Jöns"],
    ["cn=jöns,ou=groups", "jöns"],
    ["cn=qa+ou=eu,dc=example", "qa"],
    ["ou=eu+cn=qa,dc=example", "qa"],
    ["2.5.4.3=qa,dc=example", "qa"],
    ["cn=spaced  ,dc=x", "spaced"],
    ["cn=kept\\ ,dc=x", "kept "],
    ["cn=only", "only"],
  ])("%j gives %j", (dn, cn) => {
    expect(commonNameOf(dn)).toBe(cn);
  });

  it.each([
    "ou=groups,dc=example,dc=org",
    "uid=alice,cn=QA,dc=example",
    "cn=#04024869,dc=example",
    "not a dn",
    "cn=broken\\",
    "",
  ])("%j has none", (dn) => {
    expect(commonNameOf(dn)).toBeUndefined();
  });
});
