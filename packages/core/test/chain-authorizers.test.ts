import { describe, expect, it } from "vitest";
import {
  type Authorizer,
  type AuthzRequest,
  type AuthzResult,
  chainAuthorizers,
  RegauthError,
} from "../src/index.js";

const request: AuthzRequest = {
  account: "alice",
  service: "registry.test",
  clientIp: undefined,
  labels: { groups: ["dev"] },
  scope: { type: "repository", name: "app", actions: ["pull", "push"] },
};

function fixed(result: AuthzResult, name?: string): Authorizer & { calls: AuthzRequest[] } {
  const calls: AuthzRequest[] = [];
  return {
    ...(name === undefined ? {} : { name }),
    calls,
    async authorize(r) {
      calls.push(r);
      return result;
    },
  };
}

describe("chainAuthorizers", () => {
  it("no-match asks the next; the first grant wins", async () => {
    const a = fixed({ result: "no-match" });
    const b = fixed({ result: "grant", actions: ["pull"] });
    const c = fixed({ result: "grant", actions: ["*"] });
    expect(await chainAuthorizers([a, b, c]).authorize(request)).toEqual({
      result: "grant",
      actions: ["pull"],
    });
    expect(a.calls).toEqual([request]);
    expect(b.calls).toEqual([request]);
    expect(c.calls).toEqual([]);
  });

  it("an empty grant is an explicit deny that stops the chain", async () => {
    const deny = fixed({ result: "grant", actions: [] });
    const all = fixed({ result: "grant", actions: ["*"] });
    expect(await chainAuthorizers([deny, all]).authorize(request)).toEqual({
      result: "grant",
      actions: [],
    });
    expect(all.calls).toEqual([]);
  });

  it("when nobody decides the answer is no-match", async () => {
    expect(
      await chainAuthorizers([
        fixed({ result: "no-match" }),
        fixed({ result: "no-match" }),
      ]).authorize(request),
    ).toEqual({ result: "no-match" });
  });

  it("a throw ends the chain with ERR_BACKEND_UNAVAILABLE, the cause kept", async () => {
    const cause = new Error("mongo: server selection timed out");
    const after = fixed({ result: "grant", actions: ["*"] });
    const broken: Authorizer = {
      name: "mongo",
      async authorize() {
        throw cause;
      },
    };
    const chain = chainAuthorizers([fixed({ result: "no-match" }), broken, after]);
    const error = await chain.authorize(request).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RegauthError);
    expect((error as RegauthError).code).toBe("ERR_BACKEND_UNAVAILABLE");
    expect((error as RegauthError).message).toBe("authorizer mongo failed");
    expect((error as RegauthError).cause).toBe(cause);
    expect(after.calls).toEqual([]);
  });

  it("a throw after a grant is never reached", async () => {
    const broken: Authorizer = {
      async authorize() {
        throw new Error("x");
      },
    };
    expect(
      await chainAuthorizers([fixed({ result: "grant", actions: ["pull"] }), broken]).authorize(
        request,
      ),
    ).toEqual({ result: "grant", actions: ["pull"] });
  });

  it("refuses an empty list with ERR_CONFIG_INVALID", () => {
    expect(() => chainAuthorizers([])).toThrow(
      expect.objectContaining({
        code: "ERR_CONFIG_INVALID",
        message: "authorizers: at least one is needed",
      }),
    );
  });

  it("close() closes every member", async () => {
    const closed: string[] = [];
    const member = (name: string): Authorizer => ({
      name,
      async authorize() {
        return { result: "no-match" };
      },
      async close() {
        closed.push(name);
      },
    });
    const chain = chainAuthorizers([member("a"), member("b")]);
    expect(chain.name).toBe("chain(a,b)");
    await chain.close?.();
    expect(closed.sort()).toEqual(["a", "b"]);
  });
});
