import { isRegauthError, parseOptions, RegauthError } from "@regauth/core";
import { describe, expect, it } from "vitest";
import { aclSchema, createAclAuthorizer } from "../src/index.js";
import { request } from "./support/request.js";

/** The ERR_CONFIG_INVALID message createAclAuthorizer throws for `acl`. */
function errorFor(acl: unknown, extra: Record<string, unknown> = {}): string {
  try {
    createAclAuthorizer({ acl, ...extra } as never);
  } catch (error) {
    expect(error).toBeInstanceOf(RegauthError);
    expect(isRegauthError(error, "ERR_CONFIG_INVALID")).toBe(true);
    return (error as RegauthError).message;
  }
  throw new Error("expected createAclAuthorizer to throw");
}

const ok = { match: { account: "alice" }, actions: ["pull"] };

describe("aclSchema: unknown keys", () => {
  it("refuses an unknown key in match, which docker_auth would ignore and then match everything", () => {
    expect(errorFor([ok, ok, ok, { match: { nmae: "app" }, actions: ["*"] }])).toBe(
      "acl[3].match.nmae: unknown key",
    );
  });

  it("refuses an unknown key in an entry", () => {
    expect(errorFor([{ matches: { account: "a" }, actions: ["*"] }])).toBe(
      "acl[0].matches: unknown key",
    );
  });

  it("refuses an unknown option", () => {
    expect(errorFor([], { acls: [] })).toBe("acls: unknown key");
  });
});

describe("aclSchema: shapes", () => {
  it.each([
    ["acl not an array", { a: 1 }, "acl: expected an array of acl entries, got an object"],
    ["acl missing", undefined, "acl: required, expected an array of acl entries"],
    [
      "entry not an object",
      ["pull"],
      "acl[0]: expected an acl entry object with match and actions, got a string",
    ],
    [
      "actions missing",
      [{ match: {} }],
      "acl[0].actions: required, expected an array of action names",
    ],
    [
      "actions a string",
      [{ actions: "pull" }],
      "acl[0].actions: expected an array of action names, got a string",
    ],
    [
      "an action not a string",
      [{ actions: ["pull", 7] }],
      "acl[0].actions[1]: expected a string, got a number",
    ],
    [
      "an empty action",
      [{ actions: [""] }],
      "acl[0].actions[0]: expected an action name: a lower-case word such as pull, or *",
    ],
    [
      "an upper-case action that could never match",
      [{ actions: ["pull", "PUSH"] }],
      "acl[0].actions[1]: expected an action name: a lower-case word such as pull, or *",
    ],
    [
      "two actions in one string",
      [{ actions: ["pull,push"] }],
      "acl[0].actions[0]: expected an action name: a lower-case word such as pull, or *",
    ],
    [
      "match null (an empty YAML key)",
      [{ match: null, actions: ["*"] }],
      "acl[0].match: expected an object of match conditions, got null",
    ],
    [
      "match an array",
      [{ match: ["a"], actions: ["*"] }],
      "acl[0].match: expected an object of match conditions, got an array",
    ],
    [
      "account a number",
      [{ match: { account: 12345 }, actions: ["*"] }],
      "acl[0].match.account: expected a string, got a number",
    ],
    [
      "name a boolean",
      [{ match: { name: true }, actions: ["*"] }],
      "acl[0].match.name: expected a string, got a boolean",
    ],
    [
      "ip a number",
      [{ match: { ip: 10 }, actions: ["*"] }],
      "acl[0].match.ip: expected a string, got a number",
    ],
    [
      "labels a string",
      [{ match: { labels: "qa" }, actions: ["*"] }],
      "acl[0].match.labels: expected a map of label names to patterns, got a string",
    ],
    [
      "a label pattern a list",
      [{ match: { labels: { groups: ["qa"] } }, actions: ["*"] }],
      "acl[0].match.labels.groups: expected a string, got an array",
    ],
    [
      "comment a number",
      [{ actions: [], comment: 1 }],
      "acl[0].comment: expected a string, got a number",
    ],
  ])("%s", (_, acl, message) => {
    expect(errorFor(acl)).toBe(message);
  });

  it("refuses an empty name", () => {
    expect(errorFor([], { name: "" })).toBe("name: expected a non-empty name");
  });

  it("names every bad field, each with its path", () => {
    expect(
      errorFor([
        { match: { account: 1 }, actions: ["*"] },
        ok,
        { match: { name: "/(/" }, actions: "x" },
      ]),
    ).toBe(
      "acl[0].match.account: expected a string, got a number; acl[2].actions: expected an array of action names, got a string",
    );
  });
});

describe("aclSchema: patterns", () => {
  it.each([
    ["/(abc/", "invalid regular expression: missing closing )"],
    ["/a**/", "invalid regular expression: invalid nested repetition operator"],
    ["/(?<=a)b/", "invalid regular expression: invalid named capture"],
    ["/(a)\\1/", "invalid regular expression: invalid escape sequence"],
    ["/[z-a]/", "invalid regular expression: invalid character class range"],
  ])("refuses %s (RE2 syntax: no lookaround, no backreferences)", (name, message) => {
    expect(errorFor([ok, ok, { match: { name }, actions: ["*"] }])).toBe(
      `acl[2].match.name: ${message}`,
    );
  });

  it("checks patterns in labels too", () => {
    expect(errorFor([{ match: { labels: { groups: "/(/" } }, actions: ["*"] }])).toBe(
      "acl[0].match.labels.groups: invalid regular expression: missing closing )",
    );
  });

  it("does not echo the pattern in the message", () => {
    const message = errorFor([{ match: { account: "/s3cr3t(/" }, actions: ["*"] }]);
    expect(message).not.toContain("s3cr3t");
  });

  it("refuses unknown and unclosed placeholders", () => {
    const help = "expected ${account}, ${type}, ${name}, ${service}, ${labels:KEY} or ${FIELD:N}";
    expect(errorFor([{ match: { name: "${acount}/*" }, actions: ["*"] }])).toBe(
      `acl[0].match.name: unknown placeholder \${acount}, ${help}`,
    );
    expect(errorFor([{ match: { name: "${labels:}/*" }, actions: ["*"] }])).toBe(
      `acl[0].match.name: unknown placeholder \${labels:}, ${help}`,
    );
    expect(errorFor([{ match: { account: "/^${email:1}$/" }, actions: ["*"] }])).toBe(
      `acl[0].match.account: unknown placeholder \${email:1}, ${help}`,
    );
    expect(errorFor([{ match: { name: "${account/*" }, actions: ["*"] }])).toBe(
      `acl[0].match.name: unclosed placeholder: "\${" without "}", ${help}`,
    );
  });
});

describe("aclSchema: captures", () => {
  it.each([
    [
      "the source field is absent",
      { name: "${account:1}/*" },
      "acl[0].match.name: ${account:1} needs match.account, which is not set",
    ],
    [
      "the source field is a glob",
      { account: "*@corp", name: "${account:1}/*" },
      "acl[0].match.name: ${account:1} needs match.account to be a regular expression (/.../)",
    ],
    [
      "the group does not exist",
      { account: "/^(\\w+)@corp$/", name: "${account:2}/*" },
      "acl[0].match.name: ${account:2} refers to group 2 but match.account has 1",
    ],
    [
      "a field names its own groups",
      { name: "/^(\\w+)\\/${name:1}$/" },
      "acl[0].match.name: ${name:1} refers to this field's own capture groups",
    ],
    [
      "the source depends on labels",
      { account: "/^${labels:team}-(\\w+)$/", name: "${account:1}/*" },
      "acl[0].match.account: a field whose capture groups are used elsewhere can only use ${account}, ${type}, ${name} and ${service} placeholders",
    ],
    [
      "two fields name each other's groups",
      { account: "/^(\\w+)-${name:1}$/", name: "/^(\\w+)\\/${account:1}$/" },
      "acl[0].match.account: a field whose capture groups are used elsewhere can only use ${account}, ${type}, ${name} and ${service} placeholders; acl[0].match.name: a field whose capture groups are used elsewhere can only use ${account}, ${type}, ${name} and ${service} placeholders",
    ],
    [
      "a label condition names a missing source",
      { labels: { groups: "${name:1}" } },
      "acl[0].match.labels.groups: ${name:1} needs match.name, which is not set",
    ],
  ])("refuses %s", (_, match, message) => {
    expect(errorFor([{ match, actions: ["*"] }])).toBe(message);
  });
});

describe("aclSchema: ip", () => {
  const message =
    "acl[0].match.ip: expected an ip address or a cidr block such as 10.0.0.0/8 or 2001:db8::/32";
  it.each([
    "10.0.0.0/33",
    "2001:db8::/129",
    "10.0.0",
    "10.0.0.0/x",
    "10.0.0.0/",
    "010.0.0.1",
    "fe80::1%eth0",
    "*",
    "",
  ])("refuses %j", (ip) => {
    expect(errorFor([{ match: { ip }, actions: ["*"] }])).toBe(message);
  });
});

describe("aclSchema: reuse by a config loader", () => {
  it("parses with parseOptions under a prefix and feeds createAclAuthorizer", async () => {
    const input: unknown = [{ match: { account: "/^ci-/", name: "builds/*" }, actions: ["push"] }];
    const acl = parseOptions(aclSchema, input, ["authz", "acl"]);
    const authorizer = createAclAuthorizer({ acl });
    expect(await authorizer.authorize(request({ account: "ci-7", name: "builds/x" }))).toEqual({
      result: "grant",
      actions: ["push"],
    });
    expect(() => parseOptions(aclSchema, [{ actions: 1 }], ["authz", "acl"])).toThrow(
      "authz.acl[0].actions: expected an array of action names, got a number",
    );
  });
});
