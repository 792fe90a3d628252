// Signatures are made in batches, one per turn of the event loop (see
// src/internal/signing-queue.ts for the measurement behind it).
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { createTokenIssuer, verifyRegistryToken } from "../src/index.js";
import { createSigningQueue } from "../src/internal/signing-queue.js";

describe("createSigningQueue", () => {
  it("signs every token asked for in one turn together, in order, after that turn's I/O", async () => {
    const signed: unknown[] = [];
    const sign = createSigningQueue((payload) => {
      signed.push(payload.n);
      return `token-${String(payload.n)}`;
    });
    const tokens = Promise.all([sign({ n: 1 }), sign({ n: 2 }), sign({ n: 3 })]);
    await Promise.resolve();
    expect(signed).toEqual([]);
    expect(await tokens).toEqual(["token-1", "token-2", "token-3"]);
    expect(signed).toEqual([1, 2, 3]);
    // The next turn starts a new batch.
    expect(await sign({ n: 4 })).toBe("token-4");
    expect(signed).toEqual([1, 2, 3, 4]);
  });

  it("a signature that throws rejects its own token only", async () => {
    const sign = createSigningQueue((payload) => {
      if (payload.n === 2) throw new Error("no key");
      return `token-${String(payload.n)}`;
    });
    const results = await Promise.allSettled([sign({ n: 1 }), sign({ n: 2 }), sign({ n: 3 })]);
    expect(results.map((result) => result.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
  });
});

describe("issuing many tokens at once", () => {
  it("gives each its own valid signature and jti", async () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const issuer = createTokenIssuer({ issuer: "batch-test", privateKey });
    const grants = Array.from({ length: 40 }, (_, i) => ({
      subject: `user${i}`,
      audience: "registry.test",
      access: [{ type: "repository", name: `team/app${i}`, actions: ["pull"] }],
    }));
    const issued = await Promise.all(grants.map((grant) => issuer.issue(grant)));
    const verified = await Promise.all(
      issued.map(({ token }) =>
        verifyRegistryToken(token, {
          issuer: "batch-test",
          service: "registry.test",
          jwks: { keys: [issuer.publicJwk] },
        }),
      ),
    );
    expect(verified.map((claims) => claims.sub)).toEqual(grants.map((grant) => grant.subject));
    expect(new Set(verified.map((claims) => claims.jti)).size).toBe(40);
  });
});

describe("fake timers", () => {
  it("a test that fakes setImmediate still gets its tokens", async () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const issuer = createTokenIssuer({ issuer: "fake-timers", privateKey });
    vi.useFakeTimers();
    try {
      const issued = await issuer.issue({ subject: "a", audience: "s", access: [] });
      expect(issued.token.split(".")).toHaveLength(3);
    } finally {
      vi.useRealTimers();
    }
  });
});
