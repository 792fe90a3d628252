import { describe, expect, it } from "vitest";
import {
  type Authenticator,
  type AuthnRequest,
  type AuthnResult,
  chainAuthenticators,
  RegauthError,
} from "../src/index.js";

const request: AuthnRequest = {
  account: "alice",
  password: "pw",
  service: "registry.test",
  clientIp: "192.0.2.1",
};

/** An authenticator that always answers `result` and counts its calls. */
function fixed(result: AuthnResult, name?: string): Authenticator & { calls: AuthnRequest[] } {
  const calls: AuthnRequest[] = [];
  return {
    ...(name === undefined ? {} : { name }),
    calls,
    async authenticate(r) {
      calls.push(r);
      return result;
    },
  };
}

function failing(error: unknown, name?: string): Authenticator {
  return {
    ...(name === undefined ? {} : { name }),
    async authenticate() {
      throw error;
    },
  };
}

async function rejection(promise: Promise<unknown>): Promise<RegauthError> {
  const error = await promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RegauthError);
  return error as RegauthError;
}

describe("chainAuthenticators", () => {
  it("no-match asks the next; the first allow answers, with its labels", async () => {
    const first = fixed({ result: "no-match" });
    const second = fixed({ result: "allow", labels: { groups: ["dev"] } });
    const third = fixed({ result: "deny" });
    const chain = chainAuthenticators([first, second, third]);
    expect(await chain.authenticate(request)).toEqual({
      result: "allow",
      labels: { groups: ["dev"] },
    });
    expect(first.calls).toEqual([request]);
    expect(second.calls).toEqual([request]);
    expect(third.calls).toEqual([]);
  });

  it("deny stops the chain: a later allow is never asked", async () => {
    const deny = fixed({ result: "deny" });
    const allow = fixed({ result: "allow" });
    const chain = chainAuthenticators([deny, allow]);
    expect(await chain.authenticate(request)).toEqual({ result: "deny" });
    expect(allow.calls).toEqual([]);
  });

  it("when nobody decides the answer is no-match", async () => {
    const a = fixed({ result: "no-match" });
    const b = fixed({ result: "no-match" });
    expect(await chainAuthenticators([a, b]).authenticate(request)).toEqual({
      result: "no-match",
    });
    expect(a.calls).toHaveLength(1);
    expect(b.calls).toHaveLength(1);
  });

  it("a throw ends the chain with ERR_BACKEND_UNAVAILABLE, the cause kept", async () => {
    const cause = new Error("ldap: connection refused");
    const after = fixed({ result: "allow" });
    const chain = chainAuthenticators([
      fixed({ result: "no-match" }),
      failing(cause, "ldap"),
      after,
    ]);
    const error = await rejection(chain.authenticate(request));
    expect(error.code).toBe("ERR_BACKEND_UNAVAILABLE");
    expect(error.message).toBe("authenticator ldap failed");
    expect(error.cause).toBe(cause);
    expect(after.calls).toEqual([]);
  });

  it("names an unnamed member by its position", async () => {
    const chain = chainAuthenticators([fixed({ result: "no-match" }), failing("boom")]);
    const error = await rejection(chain.authenticate(request));
    expect(error.message).toBe("authenticator #1 failed");
    expect(error.cause).toBe("boom");
  });

  it.each(["ERR_BACKEND_UNAVAILABLE", "ERR_OVERLOADED", "ERR_INTERNAL"] as const)(
    "passes a %s thrown by a member (a nested chain) through unchanged",
    async (code) => {
      const inner = new RegauthError(code, "authenticator inner failed");
      const error = await rejection(chainAuthenticators([failing(inner)]).authenticate(request));
      expect(error).toBe(inner);
    },
  );

  it.each(["ERR_UNAUTHENTICATED", "ERR_REQUEST_INVALID", "ERR_CONFIG_INVALID"] as const)(
    "wraps a %s thrown by a member: a fault must not look like a client error",
    async (code) => {
      const inner = new RegauthError(code, "from the backend");
      const error = await rejection(
        chainAuthenticators([failing(inner, "custom")]).authenticate(request),
      );
      expect(error.code).toBe("ERR_BACKEND_UNAVAILABLE");
      expect(error.message).toBe("authenticator custom failed");
      expect(error.cause).toBe(inner);
    },
  );

  it("a throw after an allow is never reached", async () => {
    const chain = chainAuthenticators([fixed({ result: "allow" }), failing(new Error("x"))]);
    expect(await chain.authenticate(request)).toEqual({ result: "allow" });
  });

  it("is named after its members", () => {
    const chain = chainAuthenticators([
      fixed({ result: "allow" }, "static"),
      fixed({ result: "allow" }),
    ]);
    expect(chain.name).toBe("chain(static,#1)");
  });

  it("close() closes every member that can be closed, even after one fails", async () => {
    const closed: string[] = [];
    const a: Authenticator = {
      ...fixed({ result: "allow" }),
      async close() {
        closed.push("a");
        throw new Error("a would not close");
      },
    };
    const b: Authenticator = fixed({ result: "allow" }); // no close()
    const c: Authenticator = {
      ...fixed({ result: "allow" }),
      async close() {
        closed.push("c");
      },
    };
    const chain = chainAuthenticators([a, b, c]);
    await expect(chain.close?.()).rejects.toThrow("a would not close");
    expect(closed.sort()).toEqual(["a", "c"]);
  });

  it("refuses an empty list with ERR_CONFIG_INVALID", () => {
    let caught: unknown;
    try {
      chainAuthenticators([]);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(RegauthError);
    expect((caught as RegauthError).code).toBe("ERR_CONFIG_INVALID");
    expect((caught as RegauthError).message).toBe("authenticators: at least one is needed");
  });

  it("copies the list: adding to the array later changes nothing", async () => {
    const list: Authenticator[] = [fixed({ result: "no-match" })];
    const chain = chainAuthenticators(list);
    list.push(fixed({ result: "allow" }));
    expect(await chain.authenticate(request)).toEqual({ result: "no-match" });
  });
});

describe("chainAuthenticators lookup (an account checked without its password)", () => {
  const lookup = { account: "alice", service: "registry.test", clientIp: "192.0.2.1" };
  const lookingUp = (result: AuthnResult | Error, name: string) => ({
    name,
    asked: [] as string[],
    async authenticate(): Promise<AuthnResult> {
      return { result: "deny" };
    },
    async lookup(r: { account: string }): Promise<AuthnResult> {
      this.asked.push(r.account);
      if (result instanceof Error) throw result;
      return result;
    },
  });

  it("asks members in order; the first allow or deny decides; nobody knowing is no-match", async () => {
    const first = lookingUp({ result: "no-match" }, "first");
    const second = lookingUp({ result: "allow", labels: { groups: ["qa"] } }, "second");
    const third = lookingUp({ result: "deny" }, "third");
    const chain = chainAuthenticators([first, second, third]);
    expect(await chain.lookup?.(lookup)).toEqual({ result: "allow", labels: { groups: ["qa"] } });
    expect([first.asked, second.asked, third.asked]).toEqual([["alice"], ["alice"], []]);
    const nobody = chainAuthenticators([lookingUp({ result: "no-match" }, "a")]);
    expect(await nobody.lookup?.(lookup)).toEqual({ result: "no-match" });
  });

  it("has no lookup when one member cannot look accounts up", () => {
    const chain = chainAuthenticators([
      lookingUp({ result: "allow" }, "a"),
      fixed({ result: "allow" }, "b"),
    ]);
    expect(chain.lookup).toBeUndefined();
  });

  it("a member that throws ends the lookup with ERR_BACKEND_UNAVAILABLE", async () => {
    const chain = chainAuthenticators([lookingUp(new Error("directory down"), "ldap")]);
    const error = await rejection(chain.lookup?.(lookup) ?? Promise.resolve());
    expect(error.code).toBe("ERR_BACKEND_UNAVAILABLE");
  });
});
