import { isRegauthError } from "@regauth/core";
import { describe, expect, it } from "vitest";
import { type AclEntry, createAclAuthorizer } from "../src/index.js";
import { type RequestShape, request } from "./support/request.js";

/** The decision of a one-entry-per-call ACL: the matching entry index, or undefined. */
function decide(acl: readonly AclEntry[], shape: RequestShape): number | undefined {
  return createAclAuthorizer({ acl }).explain(request(shape)).entryIndex;
}

/** True when an ACL made of the single `match` matches the request. */
function matches(match: AclEntry["match"], shape: RequestShape): boolean {
  return decide([{ match, actions: ["*"] }], shape) === 0;
}

describe("createAclAuthorizer: order and actions", () => {
  it("lets the first matching entry decide, even when a later one is more specific", async () => {
    const authorizer = createAclAuthorizer({
      acl: [
        { match: { account: "bob" }, actions: ["pull"] },
        { match: { account: "alice" }, actions: ["pull"] },
        { match: { account: "alice", name: "app" }, actions: ["*"] },
      ],
    });
    expect(await authorizer.authorize(request({ account: "alice" }))).toEqual({
      result: "grant",
      actions: ["pull"],
    });
  });

  it("answers no-match when no entry matches, so the next authorizer is asked", async () => {
    const authorizer = createAclAuthorizer({
      acl: [{ match: { account: "bob" }, actions: ["*"] }],
    });
    expect(await authorizer.authorize(request())).toEqual({ result: "no-match" });
    expect(await createAclAuthorizer({ acl: [] }).authorize(request())).toEqual({
      result: "no-match",
    });
  });

  it("returns actions as written: [*], a list, or [] as an explicit deny", async () => {
    const all = createAclAuthorizer({ acl: [{ actions: ["*"] }] });
    expect(await all.authorize(request())).toEqual({ result: "grant", actions: ["*"] });
    const list = createAclAuthorizer({ acl: [{ match: {}, actions: ["pull", "delete"] }] });
    expect(await list.authorize(request())).toEqual({
      result: "grant",
      actions: ["pull", "delete"],
    });
    const deny = createAclAuthorizer({
      acl: [
        { match: { name: "secret/*" }, actions: [] },
        { match: {}, actions: ["*"] },
      ],
    });
    expect(await deny.authorize(request({ name: "secret/keys" }))).toEqual({
      result: "grant",
      actions: [],
    });
    expect(await deny.authorize(request({ name: "public/app" }))).toEqual({
      result: "grant",
      actions: ["*"],
    });
  });

  it("matches every request with match: {} or no match at all", () => {
    expect(matches({}, { account: "", name: "x/y/z", clientIp: undefined })).toBe(true);
    expect(matches(undefined, { account: "", name: "x/y/z", clientIp: undefined })).toBe(true);
  });

  it("does not change when the caller mutates the ACL it passed", async () => {
    const actions = ["pull"];
    const acl = [{ match: { account: "alice" }, actions }];
    const authorizer = createAclAuthorizer({ acl });
    actions.push("push");
    acl[0] = { match: { account: "bob" }, actions: [] };
    expect(await authorizer.authorize(request())).toEqual({ result: "grant", actions: ["pull"] });
  });

  it('is named "static-acl" unless told otherwise', () => {
    expect(createAclAuthorizer({ acl: [] }).name).toBe("static-acl");
    expect(createAclAuthorizer({ acl: [], name: "team-acl" }).name).toBe("team-acl");
  });
});

describe("createAclAuthorizer: globs", () => {
  it("lets * match any run of characters except /", () => {
    const match = { name: "team/*" };
    expect(matches(match, { name: "team/app" })).toBe(true);
    expect(matches(match, { name: "team/" })).toBe(true);
    expect(matches(match, { name: "team/app/sub" })).toBe(false);
    expect(matches(match, { name: "other/app" })).toBe(false);
    expect(matches({ name: "*" }, { name: "app" })).toBe(true);
    expect(matches({ name: "*" }, { name: "team/app" })).toBe(false);
    expect(matches({ name: "*/*" }, { name: "team/app" })).toBe(true);
    expect(matches({ account: "ci-*" }, { account: "ci-build" })).toBe(true);
    expect(matches({ account: "ci-*" }, { account: "ci" })).toBe(false);
  });

  it("lets ? match exactly one character except /", () => {
    expect(matches({ name: "app-?" }, { name: "app-1" })).toBe(true);
    expect(matches({ name: "app-?" }, { name: "app-12" })).toBe(false);
    expect(matches({ name: "app-?" }, { name: "app-" })).toBe(false);
    expect(matches({ name: "a?b" }, { name: "a/b" })).toBe(false);
    expect(matches({ name: "a?b" }, { name: "a😀b" })).toBe(true);
  });

  it("reads every other character literally, case-sensitively", () => {
    expect(matches({ name: "a.b" }, { name: "a.b" })).toBe(true);
    expect(matches({ name: "a.b" }, { name: "axb" })).toBe(false);
    expect(matches({ name: "app-[0-9]" }, { name: "app-1" })).toBe(false);
    expect(matches({ name: "app-[0-9]" }, { name: "app-[0-9]" })).toBe(true);
    expect(matches({ account: "a\\*" }, { account: "a\\xyz" })).toBe(true);
    expect(matches({ account: "Alice" }, { account: "alice" })).toBe(false);
    expect(matches({ account: "" }, { account: "" })).toBe(true);
    expect(matches({ account: "" }, { account: "alice" })).toBe(false);
  });

  it("treats / and // as globs, not regular expressions", () => {
    expect(matches({ account: "//" }, { account: "//" })).toBe(true);
    expect(matches({ account: "//" }, { account: "x" })).toBe(false);
    expect(matches({ account: "/" }, { account: "/" })).toBe(true);
  });

  it("agrees with a reference matcher on generated patterns and inputs", () => {
    // Small alphabets make every backtracking corner show up; the reference is
    // a JS RegExp in unicode mode (`[^/]` is one code point other than `/`).
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const pick = (alphabet: readonly string[], max: number) =>
      Array.from({ length: random(max + 1) }, () => alphabet[random(alphabet.length)]).join("");
    const inputs = Array.from({ length: 60 }, () => pick(["a", "b", "/", "😀"], 6));
    for (let round = 0; round < 300; round++) {
      const glob = pick(["a", "b", "/", "*", "?"], 6);
      if (glob.length > 2 && glob.startsWith("/") && glob.endsWith("/")) continue; // a regex
      const source = [...glob]
        .map((char) => (char === "*" ? "[^/]*" : char === "?" ? "[^/]" : char))
        .join("");
      const reference = new RegExp(`^${source}$`, "u");
      const authorizer = createAclAuthorizer({ acl: [{ match: { name: glob }, actions: ["*"] }] });
      for (const input of inputs) {
        const got = authorizer.explain(request({ name: input })).entryIndex === 0;
        if (got !== reference.test(input)) {
          expect({ glob, input, got }).toEqual({ glob, input, got: reference.test(input) });
        }
      }
    }
  });
});

describe("createAclAuthorizer: regular expressions", () => {
  it("searches unanchored, like docker_auth (Go regexp.MatchString): write ^...$", () => {
    expect(matches({ account: "/admin/" }, { account: "badminton" })).toBe(true);
    expect(matches({ account: "/^admin$/" }, { account: "badminton" })).toBe(false);
    expect(matches({ account: "/^admin$/" }, { account: "admin" })).toBe(true);
    expect(matches({ name: "/^team/" }, { name: "team/app/sub" })).toBe(true);
  });

  it("reads RE2 syntax (flags, classes, named groups)", () => {
    expect(matches({ account: "/(?i)^ADMIN$/" }, { account: "admin" })).toBe(true);
    expect(matches({ account: "/^\\w+@corp\\.example$/" }, { account: "a_1@corp.example" })).toBe(
      true,
    );
    expect(matches({ account: "/^(?P<user>[a-z]+)$/" }, { account: "bob" })).toBe(true);
  });

  it("answers /^(a+)+$/ against 40 a's and ! in well under 100 ms (linear time)", () => {
    const authorizer = createAclAuthorizer({
      acl: [{ match: { account: "/^(a+)+$/" }, actions: ["*"] }],
    });
    const attack = request({ account: `${"a".repeat(40)}!` });
    authorizer.explain(request({ account: "warm-up" }));
    const started = performance.now();
    const decision = authorizer.explain(attack);
    const elapsed = performance.now() - started;
    expect(decision.entryIndex).toBeUndefined();
    expect(elapsed).toBeLessThan(100);
  });
});

describe("createAclAuthorizer: request placeholders", () => {
  it("inserts ${account} literally into a glob", () => {
    const match = { name: "${account}/*" };
    expect(matches(match, { account: "alice", name: "alice/app" })).toBe(true);
    expect(matches(match, { account: "alice", name: "bob/app" })).toBe(false);
    // A * or ? in the value is a character, not a wildcard.
    expect(matches(match, { account: "a*", name: "abc/app" })).toBe(false);
    expect(matches(match, { account: "a*", name: "a*/app" })).toBe(true);
    expect(matches({ name: "x${account}" }, { account: "?", name: "xy" })).toBe(false);
  });

  it("escapes ${account} inside a regular expression", () => {
    const match = { name: "/^${account}\\/[^/]+$/" };
    expect(matches(match, { account: "a.b", name: "a.b/app" })).toBe(true);
    expect(matches(match, { account: "a.b", name: "axb/app" })).toBe(false);
    expect(matches(match, { account: "a+", name: "aaa/app" })).toBe(false);
  });

  it("escapes every ASCII character so RE2 reads it literally, inside brackets too", () => {
    const exact = createAclAuthorizer({
      acl: [{ match: { name: "/^${account}$/" }, actions: [] }],
    });
    const bracket = createAclAuthorizer({
      acl: [{ match: { name: "/^[${account}]$/" }, actions: [] }],
    });
    for (let code = 0x20; code < 0x7f; code++) {
      const char = String.fromCharCode(code);
      const other = char === "a" ? "b" : "a";
      expect(exact.explain(request({ account: char, name: char })).entryIndex).toBe(0);
      expect(exact.explain(request({ account: char, name: other })).entryIndex).toBeUndefined();
      expect(bracket.explain(request({ account: char, name: char })).entryIndex).toBe(0);
      expect(bracket.explain(request({ account: char, name: other })).entryIndex).toBeUndefined();
    }
    const range = request({ account: "a-c", name: "b" });
    expect(bracket.explain(range).entryIndex).toBeUndefined();
  });

  it("inserts ${type}, ${name} and ${service}", () => {
    expect(matches({ name: "${type}s/*" }, { type: "repository", name: "repositorys/x" })).toBe(
      true,
    );
    expect(matches({ account: "${name}-bot" }, { account: "app-bot", name: "app" })).toBe(true);
    expect(matches({ account: "${name}-bot" }, { account: "web-bot", name: "app" })).toBe(false);
    expect(
      matches({ name: "${service}/*" }, { service: "registry.example.com", name: "x/y" }),
    ).toBe(false);
    expect(matches({ account: "/^${service}$/" }, { service: "r.io", account: "r.io" })).toBe(true);
    expect(matches({ account: "/^${service}$/" }, { service: "r.io", account: "rxio" })).toBe(
      false,
    );
  });
});

describe("createAclAuthorizer: ${labels:KEY}", () => {
  const acl: AclEntry[] = [
    { match: { name: "${labels:groups}/*" }, actions: ["pull", "push"], comment: "own group" },
    { match: { account: "/.+/" }, actions: ["pull"], comment: "read everything" },
  ];
  const authorizer = createAclAuthorizer({ acl });

  it("lets a member of qa push qa/app and only pull dev/app", async () => {
    const member = { labels: { groups: ["qa"] } };
    expect(await authorizer.authorize(request({ ...member, name: "qa/app" }))).toEqual({
      result: "grant",
      actions: ["pull", "push"],
    });
    expect(await authorizer.authorize(request({ ...member, name: "dev/app" }))).toEqual({
      result: "grant",
      actions: ["pull"],
    });
    expect(authorizer.explain(request({ ...member, name: "qa/app/sub" })).entryIndex).toBe(1);
  });

  it("tries every value of the label", () => {
    const labels = { groups: ["dev", "ops", "qa"] };
    const decision = authorizer.explain(request({ labels, name: "qa/app" }));
    expect(decision.entryIndex).toBe(0);
    expect(decision.placeholders).toEqual([
      { field: "name", placeholder: "${labels:groups}", value: "qa" },
    ]);
  });

  it("does not match a request without the label, or with no value for it", () => {
    expect(authorizer.explain(request({ name: "qa/app" })).entryIndex).toBe(1);
    expect(authorizer.explain(request({ labels: { groups: [] }, name: "qa/app" })).entryIndex).toBe(
      1,
    );
    expect(
      authorizer.explain(request({ labels: { teams: ["qa"] }, name: "qa/app" })).entryIndex,
    ).toBe(1);
    expect(matches({ name: "${labels:toString}" }, { name: "x" })).toBe(false);
  });

  it("inserts label values literally", () => {
    expect(
      matches({ name: "${labels:groups}/*" }, { labels: { groups: ["*"] }, name: "qa/x" }),
    ).toBe(false);
    expect(
      matches({ name: "/^${labels:groups}$/" }, { labels: { groups: ["q."] }, name: "qa" }),
    ).toBe(false);
    expect(
      matches({ name: "/^${labels:groups}$/" }, { labels: { groups: ["q."] }, name: "q." }),
    ).toBe(true);
  });

  it("tries every combination when one field names several labels", () => {
    const match = { name: "${labels:org}/${labels:team}-*" };
    const labels = { org: ["acme", "initech"], team: ["web", "db"] };
    expect(matches(match, { labels, name: "initech/db-main" })).toBe(true);
    expect(matches(match, { labels, name: "initech/ops-main" })).toBe(false);
  });

  it("uses one value per key within a field, and chooses anew in each field", () => {
    const labels = { groups: ["qa", "dev"] };
    expect(matches({ name: "${labels:groups}/${labels:groups}" }, { labels, name: "qa/dev" })).toBe(
      false,
    );
    expect(matches({ name: "${labels:groups}/${labels:groups}" }, { labels, name: "qa/qa" })).toBe(
      true,
    );
    // docker_auth tries the values for each field on its own.
    const match = { account: "${labels:groups}-bot", name: "${labels:groups}/*" };
    expect(matches(match, { labels, account: "qa-bot", name: "dev/app" })).toBe(true);
  });
});

describe("createAclAuthorizer: ${FIELD:N} captures", () => {
  const acl: AclEntry[] = [
    { match: { account: "/^(\\w+)@corp$/", name: "${account:1}/*" }, actions: ["*"] },
  ];

  it("inserts group N of another field's regular expression", () => {
    expect(decide(acl, { account: "alice@corp", name: "alice/app" })).toBe(0);
    expect(decide(acl, { account: "alice@corp", name: "bob/app" })).toBeUndefined();
    expect(decide(acl, { account: "alice@home", name: "alice/app" })).toBeUndefined();
  });

  it("works whatever the order of the fields in the entry, and reports the value", () => {
    const reordered: AclEntry[] = [
      { match: { name: "${account:1}/*", account: "/^(\\w+)@corp$/" }, actions: ["*"] },
    ];
    const decision = createAclAuthorizer({ acl: reordered }).explain(
      request({ account: "alice@corp", name: "alice/app" }),
    );
    expect(decision.entryIndex).toBe(0);
    expect(decision.placeholders).toEqual([
      { field: "name", placeholder: "${account:1}", value: "alice" },
    ]);
  });

  it("takes the leftmost match's groups, group 0 being the whole match", () => {
    const whole: AclEntry[] = [
      { match: { account: "/[a-z]+-[0-9]+/", name: "${account:0}" }, actions: ["*"] },
    ];
    expect(decide(whole, { account: "x ci-42 y-7", name: "ci-42" })).toBe(0);
    expect(decide(whole, { account: "x ci-42 y-7", name: "y-7" })).toBeUndefined();
  });

  it("inserts captures literally into a regular expression and feeds labels conditions", () => {
    const escaped: AclEntry[] = [
      { match: { account: "/^(.+)@corp$/", name: "/^${account:1}$/" }, actions: ["*"] },
    ];
    expect(decide(escaped, { account: "a.b@corp", name: "a.b" })).toBe(0);
    expect(decide(escaped, { account: "a.b@corp", name: "axb" })).toBeUndefined();
    const viaLabels: AclEntry[] = [
      { match: { name: "/^(\\w+)\\//", labels: { groups: "${name:1}" } }, actions: ["*"] },
    ];
    expect(decide(viaLabels, { name: "qa/app", labels: { groups: ["dev", "qa"] } })).toBe(0);
    expect(decide(viaLabels, { name: "ops/app", labels: { groups: ["dev", "qa"] } })).toBe(
      undefined,
    );
  });

  it("inserts an empty string for a group that took no part in the match", () => {
    const optional: AclEntry[] = [
      { match: { account: "/^(x)?(\\w+)$/", name: "a${account:1}b" }, actions: ["*"] },
    ];
    expect(decide(optional, { account: "bob", name: "ab" })).toBe(0);
    expect(decide(optional, { account: "xbob", name: "axb" })).toBe(0);
  });
});

describe("createAclAuthorizer: ip", () => {
  const cases: [rule: string, client: string | undefined, expected: boolean][] = [
    ["192.0.2.10", "192.0.2.10", true],
    ["192.0.2.10", "192.0.2.11", false],
    ["10.0.0.0/8", "10.200.3.4", true],
    ["10.0.0.0/8", "11.0.0.1", false],
    ["10.1.2.3/8", "10.9.9.9", true],
    ["0.0.0.0/0", "203.0.113.5", true],
    ["2001:db8::1", "2001:db8:0:0::1", true],
    ["2001:db8::1", "2001:db8::2", false],
    ["2001:db8::/32", "2001:db8:ffff::5", true],
    ["2001:db8::/32", "2001:db9::5", false],
    ["10.0.0.0/8", "::ffff:10.1.2.3", true],
    ["10.0.0.0/8", "::ffff:a01:203", true],
    ["192.0.2.10", "::ffff:192.0.2.10", true],
    ["10.0.0.0/8", "2001:db8::1", false],
    ["2001:db8::/32", "10.0.0.1", false],
    ["fe80::/10", "fe80::1%eth0", true],
    ["10.0.0.0/8", undefined, false],
    ["0.0.0.0/0", "not-an-address", false],
  ];
  it.each(cases)("rule %s, client %s: %s", (rule, clientIp, expected) => {
    expect(matches({ ip: rule }, { clientIp })).toBe(expected);
  });
});

describe("createAclAuthorizer: type, service and labels conditions", () => {
  it("matches type against the scope's type and name against its name", () => {
    const acl: AclEntry[] = [
      { match: { type: "registry", name: "catalog" }, actions: ["*"] },
      { match: { type: "repository" }, actions: ["pull"] },
    ];
    expect(decide(acl, { type: "registry", name: "catalog", actions: ["*"] })).toBe(0);
    expect(decide(acl, { type: "repository", name: "catalog" })).toBe(1);
  });

  it("matches service", () => {
    expect(matches({ service: "*.example.com" }, { service: "registry.example.com" })).toBe(true);
    expect(matches({ service: "*.example.com" }, { service: "registry.example.org" })).toBe(false);
  });

  it("needs some value of each label to match, keys ANDed", () => {
    const match = { labels: { groups: "/^(qa|dev)$/", tier: "gold" } };
    expect(matches(match, { labels: { groups: ["ops", "qa"], tier: ["gold"] } })).toBe(true);
    expect(matches(match, { labels: { groups: ["ops", "qa"], tier: ["silver"] } })).toBe(false);
    expect(matches(match, { labels: { groups: ["ops"], tier: ["gold"] } })).toBe(false);
    expect(matches(match, { labels: { groups: ["qa"] } })).toBe(false);
    expect(matches({ labels: {} }, { labels: {} })).toBe(true);
    expect(matches({ labels: { groups: "*" } }, { labels: { groups: [] } })).toBe(false);
  });

  it("needs every condition of an entry to hold", () => {
    const match = { account: "alice", name: "app", ip: "192.0.2.0/24" };
    expect(matches(match, {})).toBe(true);
    expect(matches(match, { account: "bob" })).toBe(false);
    expect(matches(match, { name: "web" })).toBe(false);
    expect(matches(match, { clientIp: "198.51.100.1" })).toBe(false);
  });
});

describe("createAclAuthorizer: explain", () => {
  const authorizer = createAclAuthorizer({
    acl: [
      { match: { account: "admin" }, actions: ["*"], comment: "admins" },
      { match: { name: "secret/*" }, actions: [], comment: "nobody else" },
      { match: { account: "/.+/" }, actions: ["pull", "delete"] },
    ],
  });

  it("names the deciding entry, its actions and what the token gets", () => {
    expect(authorizer.explain(request({ account: "admin", actions: ["pull", "push"] }))).toEqual({
      entryIndex: 0,
      comment: "admins",
      allowed: ["*"],
      granted: ["pull", "push"],
      placeholders: [],
    });
    expect(authorizer.explain(request({ name: "secret/keys" }))).toEqual({
      entryIndex: 1,
      comment: "nobody else",
      allowed: [],
      granted: [],
      placeholders: [],
    });
    expect(authorizer.explain(request({ actions: ["pull", "push"] }))).toEqual({
      entryIndex: 2,
      comment: undefined,
      allowed: ["pull", "delete"],
      granted: ["pull"],
      placeholders: [],
    });
  });

  it("says no entry matched with undefined index and allowed", () => {
    expect(authorizer.explain(request({ account: "" }))).toEqual({
      entryIndex: undefined,
      comment: undefined,
      allowed: undefined,
      granted: [],
      placeholders: [],
    });
  });

  it("agrees with authorize", async () => {
    for (const shape of [{ account: "admin" }, { name: "secret/x" }, {}, { account: "" }]) {
      const decision = authorizer.explain(request(shape));
      const result = await authorizer.authorize(request(shape));
      expect(result).toEqual(
        decision.allowed === undefined
          ? { result: "no-match" }
          : { result: "grant", actions: decision.allowed },
      );
    }
  });
});

describe("createAclAuthorizer: large ACLs", () => {
  it("keeps first-match order exact with literal, wildcard and regex entries mixed", () => {
    // The same ACL written twice: once with literal accounts and names (which
    // the index keys on) and once with the equivalent /^...$/ expressions
    // (which it cannot). Both must pick the same entry for every request.
    let seed = 11;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const accounts = ["alice", "bob", "carol", ""];
    const names = ["app", "web", "team/app"];
    const literal: AclEntry[] = [];
    const regex: AclEntry[] = [];
    for (let i = 0; i < 200; i++) {
      const account = random(3) === 0 ? undefined : accounts[random(accounts.length)];
      const name = random(3) === 0 ? undefined : names[random(names.length)];
      const type = random(4) === 0 ? "registry" : undefined;
      // A marker action per entry, a lower-case word as actions must be ("bcd" for 123).
      const actions = [String(i).replace(/\d/g, (digit) => "abcdefghij"[Number(digit)] ?? "")];
      literal.push({ match: { account, name, type }, actions });
      regex.push({
        match: {
          account: account === undefined ? undefined : `/^${account}$/`,
          name: name === undefined ? undefined : `/^${name.replace("/", "\\/")}$/`,
          type,
        },
        actions,
      });
    }
    const indexed = createAclAuthorizer({ acl: literal });
    const scanned = createAclAuthorizer({ acl: regex });
    let decided = 0;
    for (const account of [...accounts, "dave"]) {
      for (const name of [...names, "other"]) {
        for (const type of ["repository", "registry"]) {
          const shape = { account, name, type };
          const expected = scanned.explain(request(shape)).entryIndex;
          expect(indexed.explain(request(shape)).entryIndex).toBe(expected);
          if (expected !== undefined) decided++;
        }
      }
    }
    expect(decided).toBeGreaterThan(20);
  });

  it("finds the right entry among 10,000 per-user entries", async () => {
    const acl: AclEntry[] = [];
    for (let i = 0; i < 10_000; i++) {
      acl.push({ match: { account: `user${i}`, name: `user${i}/*` }, actions: ["*"] });
    }
    acl.push({ match: { account: "/./" }, actions: ["pull"], comment: "everyone reads" });
    const authorizer = createAclAuthorizer({ acl });
    expect(
      authorizer.explain(request({ account: "user9999", name: "user9999/app" })),
    ).toMatchObject({ entryIndex: 9999, allowed: ["*"] });
    expect(authorizer.explain(request({ account: "user9999", name: "user1/app" }))).toMatchObject({
      entryIndex: 10_000,
      allowed: ["pull"],
    });
    expect(await authorizer.authorize(request({ account: "", name: "x" }))).toEqual({
      result: "no-match",
    });
  });
});

describe("createAclAuthorizer: request-time failures", () => {
  it("throws ERR_INTERNAL rather than skip a rule whose pattern stops compiling", async () => {
    const authorizer = createAclAuthorizer({
      acl: [
        { match: { account: "/^a{1,${name}}$/" }, actions: [] },
        { match: {}, actions: ["*"] },
      ],
    });
    expect(authorizer.explain(request({ name: "3", account: "aa" })).entryIndex).toBe(0);
    const failing = authorizer.authorize(request({ name: "5000", account: "aa" }));
    await expect(failing).rejects.toSatisfy(
      (error: unknown) =>
        isRegauthError(error, "ERR_INTERNAL") &&
        error.message ===
          "acl[0].match.account: pattern does not compile with this request's values: invalid regular expression: invalid repeat count",
    );
  });
});

describe("createAclAuthorizer: documented examples", () => {
  it("runs the README's smallest example", async () => {
    const authorizer = createAclAuthorizer({
      acl: [
        { match: { account: "admin" }, actions: ["*"], comment: "admin does everything" },
        { match: { name: "${account}/*" }, actions: ["*"], comment: "your own namespace" },
        { match: { account: "/.+/" }, actions: ["pull"], comment: "signed-in users read" },
      ],
    });
    const result = await authorizer.authorize({
      account: "alice",
      service: "registry.example.com",
      clientIp: "192.0.2.10",
      labels: {},
      scope: { type: "repository", name: "alice/app", actions: ["pull", "push"] },
    });
    expect(result).toEqual({ result: "grant", actions: ["*"] });
  });

  it("runs the README's explain example and the TSDoc example", () => {
    const readme = createAclAuthorizer({
      acl: [
        { match: { name: "${labels:groups}/*" }, actions: ["pull", "push"], comment: "own group" },
        { match: { account: "/.+/" }, actions: ["pull"] },
      ],
    });
    expect(
      readme.explain({
        account: "alice",
        service: "registry.example.com",
        clientIp: undefined,
        labels: { groups: ["dev", "qa"] },
        scope: { type: "repository", name: "qa/app", actions: ["pull", "push"] },
      }),
    ).toEqual({
      entryIndex: 0,
      comment: "own group",
      allowed: ["pull", "push"],
      granted: ["pull", "push"],
      placeholders: [{ field: "name", placeholder: "${labels:groups}", value: "qa" }],
    });

    const tsdoc = createAclAuthorizer({
      acl: [
        { match: { account: "admin" }, actions: ["*"], comment: "admin does everything" },
        { match: { name: "${labels:groups}/*" }, actions: ["pull", "push"] },
        { match: { account: "/^.+$/", type: "repository" }, actions: ["pull"] },
        { match: { account: "" }, actions: [], comment: "anonymous: nothing" },
      ],
    });
    expect(
      tsdoc.explain({
        account: "alice",
        service: "registry",
        clientIp: undefined,
        labels: { groups: ["qa"] },
        scope: { type: "repository", name: "qa/app", actions: ["pull", "push"] },
      }),
    ).toEqual({
      entryIndex: 1,
      comment: undefined,
      allowed: ["pull", "push"],
      granted: ["pull", "push"],
      placeholders: [{ field: "name", placeholder: "${labels:groups}", value: "qa" }],
    });
  });
});
