import { describe, expect, it } from "vitest";
import {
  DEFAULT_MAX_SCOPE_LENGTH,
  DEFAULT_MAX_SCOPES,
  formatScope,
  formatScopes,
  parseScope,
  parseScopes,
  RegauthError,
} from "../src/index.js";

/** Runs `fn`, expects a RegauthError, and returns it for code and message checks. */
function thrown(fn: () => unknown): RegauthError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RegauthError);
    return error as RegauthError;
  }
  throw new Error("expected a RegauthError, nothing was thrown");
}

describe("parseScope", () => {
  it("parses a plain repository scope", () => {
    expect(parseScope("repository:app:pull")).toEqual({
      type: "repository",
      name: "app",
      actions: ["pull"],
    });
  });

  it("keeps a multi-component name and several actions in order", () => {
    expect(parseScope("repository:team/sub/app:push,pull")).toEqual({
      type: "repository",
      name: "team/sub/app",
      actions: ["push", "pull"],
    });
  });

  it("does not split a host:port/ name on its colon", () => {
    expect(parseScope("repository:localhost:5000/a/b:pull,push")).toEqual({
      type: "repository",
      name: "localhost:5000/a/b",
      actions: ["pull", "push"],
    });
  });

  it("accepts a bracketed IPv6 host with a port", () => {
    expect(parseScope("repository:[::1]:5000/x:pull")).toEqual({
      type: "repository",
      name: "[::1]:5000/x",
      actions: ["pull"],
    });
  });

  it("accepts a dotted host name with upper-case letters (host names are not paths)", () => {
    expect(parseScope("repository:Registry.Example.com/team/app:pull").name).toBe(
      "Registry.Example.com/team/app",
    );
  });

  it("accepts the separators of the reference grammar", () => {
    expect(parseScope("repository:a.b_c__d--e-f/g:pull").name).toBe("a.b_c__d--e-f/g");
  });

  it("keeps the resource class as its own field and the type as repository", () => {
    expect(parseScope("repository(plugin):x:pull")).toEqual({
      type: "repository",
      class: "plugin",
      name: "x",
      actions: ["pull"],
    });
  });

  it("has no class key at all when there is no class", () => {
    expect("class" in parseScope("repository:x:pull")).toBe(false);
  });

  it("parses registry:catalog:*", () => {
    expect(parseScope("registry:catalog:*")).toEqual({
      type: "registry",
      name: "catalog",
      actions: ["*"],
    });
  });

  it("carries unknown actions through unchanged", () => {
    expect(parseScope("repository:app:pull,frobnicate,delete").actions).toEqual([
      "pull",
      "frobnicate",
      "delete",
    ]);
  });

  it("keeps a repeated action once", () => {
    expect(parseScope("repository:app:pull,push,pull").actions).toEqual(["pull", "push"]);
  });

  it("accepts a name of exactly 255 characters", () => {
    const name = `a${"/b".repeat(127)}`;
    expect(name).toHaveLength(255);
    expect(parseScope(`repository:${name}:pull`).name).toBe(name);
  });

  describe("bad input", () => {
    const cases: [label: string, scope: string, why: string][] = [
      ["empty name (repository::pull)", "repository::pull", "empty resource name"],
      ["empty type (:a:pull)", ":a:pull", 'resource type "" is not type or type(class)'],
      ["no actions (repository:a:)", "repository:a:", "no actions"],
      ["trailing comma (repository:a:pull,)", "repository:a:pull,", "empty action"],
      ["leading comma (repository:a:,pull)", "repository:a:,pull", "empty action"],
      [
        "unknown type (blob:a:pull)",
        "blob:a:pull",
        'unknown resource type "blob", expected repository or registry',
      ],
      [
        "a tag in the name (repository:app:latest:pull)",
        "repository:app:latest:pull",
        "resource name does not follow the reference grammar",
      ],
      [
        "upper-case name (repository:App:pull)",
        "repository:App:pull",
        "resource name does not follow the reference grammar",
      ],
      [
        "upper-case path after a host (repository:host/App:pull)",
        "repository:host/App:pull",
        "resource name does not follow the reference grammar",
      ],
      ["only two parts (repository:app)", "repository:app", "expected type:name:actions"],
      ["no colon at all", "repository", "expected type:name:actions"],
      ["empty string", "", "expected type:name:actions"],
      [
        "upper-case action (repository:a:PULL)",
        "repository:a:PULL",
        'action "PULL" is not a lower-case word or *',
      ],
      [
        "upper-case type (Repository:a:pull)",
        "Repository:a:pull",
        'resource type "Repository" is not type or type(class)',
      ],
      [
        "unclosed class (repository(plugin:a:pull)",
        "repository(plugin:a:pull",
        'resource type "repository(plugin" is not type or type(class)',
      ],
      [
        "a name with a trailing slash",
        "repository:a/:pull",
        "resource name does not follow the reference grammar",
      ],
      [
        "a name of 256 characters",
        `repository:a${"/b".repeat(127)}c:pull`,
        "resource name does not follow the reference grammar",
      ],
    ];
    it.each(cases)("refuses %s", (_label, scope, why) => {
      const error = thrown(() => parseScope(scope));
      expect(error.code).toBe("ERR_SCOPE_INVALID");
      expect(error.message).toBe(`invalid scope ${JSON.stringify(scope)}: ${why}`);
    });

    it("refuses a scope of 10,000 characters with ERR_SCOPE_LIMIT", () => {
      const scope = `repository:${"a".repeat(10_000 - "repository::pull".length)}:pull`;
      expect(scope).toHaveLength(10_000);
      const error = thrown(() => parseScope(scope));
      expect(error.code).toBe("ERR_SCOPE_LIMIT");
      expect(error.message).toBe(
        `scope too long: 10000 characters, at most ${DEFAULT_MAX_SCOPE_LENGTH} accepted`,
      );
    });

    it("honours a custom maxScopeLength", () => {
      const scope = "repository:abcdefgh:pull";
      expect(parseScope(scope, { maxScopeLength: scope.length }).name).toBe("abcdefgh");
      const error = thrown(() => parseScope(scope, { maxScopeLength: scope.length - 1 }));
      expect(error.code).toBe("ERR_SCOPE_LIMIT");
    });

    it("answers a crafted long name within a few milliseconds (no regex blow-up)", () => {
      const names = [
        `${"a-".repeat(120)}!`,
        `${"a.".repeat(120)}:`,
        `${"a".repeat(250)}/!`,
        `${"a_".repeat(120)}_`,
      ];
      for (const name of names) {
        const started = performance.now();
        expect(() => parseScope(`repository:${name}:pull`)).toThrow(RegauthError);
        expect(performance.now() - started).toBeLessThan(50);
      }
    });
  });
});

describe("parseScopes", () => {
  it("returns [] for no values and for an empty scope= (docker login)", () => {
    expect(parseScopes([])).toEqual([]);
    expect(parseScopes([""])).toEqual([]);
    expect(parseScopes(["", " ", "  "])).toEqual([]);
  });

  it("splits one value on spaces (buildkit, helm, oras, the registry challenge)", () => {
    expect(parseScopes(["repository:a:pull repository:b:pull,push"])).toEqual([
      { type: "repository", name: "a", actions: ["pull"] },
      { type: "repository", name: "b", actions: ["pull", "push"] },
    ]);
  });

  it("takes repeated values (docker, skopeo) together with space-separated ones", () => {
    expect(
      parseScopes([
        "repository:a:pull",
        "repository:b:push registry:catalog:*",
        "repository:c:pull",
      ]),
    ).toEqual([
      { type: "repository", name: "a", actions: ["pull"] },
      { type: "repository", name: "b", actions: ["push"] },
      { type: "registry", name: "catalog", actions: ["*"] },
      { type: "repository", name: "c", actions: ["pull"] },
    ]);
  });

  it("merges the same repository asked twice with actions in another order into one entry", () => {
    expect(parseScopes(["repository:app:push,pull", "repository:app:pull,delete"])).toEqual([
      { type: "repository", name: "app", actions: ["push", "pull", "delete"] },
    ]);
  });

  it("merges duplicates inside one value too", () => {
    expect(parseScopes(["repository:app:pull repository:app:push"])).toEqual([
      { type: "repository", name: "app", actions: ["pull", "push"] },
    ]);
  });

  it("keeps both repositories of a cross-repository mount", () => {
    expect(parseScopes(["repository:dst:pull,push", "repository:src:pull"])).toEqual([
      { type: "repository", name: "dst", actions: ["pull", "push"] },
      { type: "repository", name: "src", actions: ["pull"] },
    ]);
  });

  it("does not merge scopes that differ by class or by type", () => {
    expect(
      parseScopes(["repository:x:pull", "repository(plugin):x:push", "registry:x:pull"]),
    ).toEqual([
      { type: "repository", name: "x", actions: ["pull"] },
      { type: "repository", class: "plugin", name: "x", actions: ["push"] },
      { type: "registry", name: "x", actions: ["pull"] },
    ]);
  });

  it("accepts any iterable, such as URLSearchParams.getAll", () => {
    const query = new URLSearchParams("scope=repository:a:pull&scope=repository:b:pull&x=1");
    expect(parseScopes(query.getAll("scope")).map((s) => s.name)).toEqual(["a", "b"]);
  });

  it("refuses the whole request when one scope is bad", () => {
    const error = thrown(() => parseScopes(["repository:a:pull", "repository:b:pull,"]));
    expect(error.code).toBe("ERR_SCOPE_INVALID");
    expect(error.message).toBe('invalid scope "repository:b:pull,": empty action');
  });

  it(`accepts ${DEFAULT_MAX_SCOPES} distinct scopes and refuses one more`, () => {
    const scopes = Array.from({ length: DEFAULT_MAX_SCOPES }, (_, i) => `repository:r${i}:pull`);
    expect(parseScopes(scopes)).toHaveLength(DEFAULT_MAX_SCOPES);
    const error = thrown(() => parseScopes([...scopes, "repository:extra:pull"]));
    expect(error.code).toBe("ERR_SCOPE_LIMIT");
    expect(error.message).toBe(`too many scopes: more than ${DEFAULT_MAX_SCOPES} in one request`);
  });

  it("refuses 1,000 scopes with ERR_SCOPE_LIMIT", () => {
    const value = Array.from({ length: 1000 }, (_, i) => `repository:r${i}:pull`).join(" ");
    const error = thrown(() => parseScopes([value]));
    expect(error.code).toBe("ERR_SCOPE_LIMIT");
    expect(error.message).toBe(`too many scopes: more than ${DEFAULT_MAX_SCOPES} in one request`);
  });

  it("counts merged duplicates once against the limit", () => {
    const many = Array.from({ length: 1000 }, () => "repository:same:pull");
    expect(parseScopes(many, { maxScopes: 1 })).toEqual([
      { type: "repository", name: "same", actions: ["pull"] },
    ]);
  });

  it("honours a custom maxScopes", () => {
    const error = thrown(() =>
      parseScopes(["repository:a:pull repository:b:pull"], { maxScopes: 1 }),
    );
    expect(error.code).toBe("ERR_SCOPE_LIMIT");
    expect(error.message).toBe("too many scopes: more than 1 in one request");
  });
});

describe("formatScope", () => {
  it("formats type, class, name and actions", () => {
    expect(formatScope({ type: "registry", name: "catalog", actions: ["*"] })).toBe(
      "registry:catalog:*",
    );
    expect(
      formatScope({
        type: "repository",
        class: "plugin",
        name: "h:5000/x",
        actions: ["pull", "push"],
      }),
    ).toBe("repository(plugin):h:5000/x:pull,push");
  });

  it.each([
    "repository:app:pull",
    "repository:team/app:push,pull",
    "repository:localhost:5000/a/b:pull,push",
    "repository:[::1]:5000/x:pull",
    "repository(plugin):x:pull",
    "registry:catalog:*",
    "repository:app:pull,frobnicate",
  ])("round-trips %s", (text) => {
    expect(formatScope(parseScope(text))).toBe(text);
  });

  it("formatScopes joins with spaces, and parseScopes reads it back", () => {
    const scopes = parseScopes([
      "repository:a:pull repository(plugin):b:push",
      "registry:catalog:*",
    ]);
    const text = formatScopes(scopes);
    expect(text).toBe("repository:a:pull repository(plugin):b:push registry:catalog:*");
    expect(parseScopes([text])).toEqual(scopes);
  });

  it("formatScopes of nothing is the empty string", () => {
    expect(formatScopes([])).toBe("");
  });
});
