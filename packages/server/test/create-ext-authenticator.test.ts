import { isRegauthError, type RegauthError } from "@regauth/core";
import { describe, expect, it } from "vitest";
import { createExtAuthenticator } from "../src/create-ext-authenticator.js";
import { authn, EXT_AUTH, memoryLogger } from "./support.js";

async function failure(promise: Promise<unknown>): Promise<RegauthError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isRegauthError(error)) throw new Error(`expected a RegauthError, got ${String(error)}`);
  return error;
}

describe("createExtAuthenticator (docker_auth ext_auth)", () => {
  const ext = createExtAuthenticator({ command: EXT_AUTH, timeoutMs: 3000 });

  it("exit 0 allows, with the labels printed on stdout", async () => {
    expect(await ext.authenticate(authn("allow"))).toEqual({
      result: "allow",
      labels: { groups: ["dev", "qa"] },
    });
  });

  it("exit 0 with empty stdout allows without labels", async () => {
    expect(await ext.authenticate(authn("quiet"))).toEqual({ result: "allow" });
  });

  it("exit 1 denies, exit 2 is no-match", async () => {
    expect(await ext.authenticate(authn("deny"))).toEqual({ result: "deny" });
    expect(await ext.authenticate(authn("nomatch"))).toEqual({ result: "no-match" });
  });

  it("gets '<account> <password>' on stdin; a password with spaces arrives whole", async () => {
    expect(await ext.authenticate(authn("carol", "right"))).toEqual({ result: "allow" });
    expect(await ext.authenticate(authn("carol", "wrong"))).toEqual({ result: "deny" });
  });

  it("an account the one-line protocol cannot carry is no-match, without running the program", async () => {
    // Reported: user "bob right\nadmin" made the program check bob and regauth
    // name the account "bob right\nadmin", matching rules meant for admin.
    for (const [account, password] of [
      ["allow right\nadmin", "zzz"],
      ["allow x", "y"],
      ["allow\tx", "y"],
      ["allow", "right\nmore"],
      ["allow", "nul\u0000byte"],
    ] as const) {
      expect(await ext.authenticate(authn(account, password))).toEqual({ result: "no-match" });
    }
  });

  it("exit 3 is a backend error, never a deny", async () => {
    const error = await failure(ext.authenticate(authn("broken")));
    expect(error.code).toBe("ERR_BACKEND_UNAVAILABLE");
    expect(error.message).toBe(
      "ext_auth: program exited 3 (0 allow, 1 deny, 2 no match; anything else is an error)",
    );
  });

  it("a crash (signal) is a backend error", async () => {
    const error = await failure(ext.authenticate(authn("crash")));
    expect(error.code).toBe("ERR_BACKEND_UNAVAILABLE");
    expect(error.message).toBe("ext_auth: program was killed by SIGSEGV");
  });

  it("a program that hangs is killed at the timeout", async () => {
    const quick = createExtAuthenticator({ command: EXT_AUTH, timeoutMs: 300 });
    const started = Date.now();
    const error = await failure(quick.authenticate(authn("hang")));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(error.code).toBe("ERR_BACKEND_UNAVAILABLE");
    expect(error.message).toBe("ext_auth: program timed out after 300 ms and was killed");
  });

  it("10 MB on stdout is cut off at maxOutputBytes and fails", async () => {
    const error = await failure(ext.authenticate(authn("flood")));
    expect(error.code).toBe("ERR_BACKEND_UNAVAILABLE");
    expect(error.message).toBe(
      "ext_auth: program printed more than 65536 bytes on stdout and was killed",
    );
  });

  it("stdout that is not JSON, or labels of the wrong shape, fail", async () => {
    const bad = await failure(ext.authenticate(authn("badjson")));
    expect(bad.message).toBe("ext_auth: program exited 0 but its stdout is not JSON");
    const shape = await failure(ext.authenticate(authn("badlabels")));
    expect(shape.message).toMatch(/stdout is not \{"labels"/);
  });

  it("logs stderr with the password masked", async () => {
    const logger = memoryLogger();
    const chatty = createExtAuthenticator({ command: EXT_AUTH, logger });
    await chatty.authenticate(authn("chatty", "hunter2-secret"));
    const line = logger.lines.find((l) => l.message === "ext_auth program wrote to stderr");
    expect(line?.fields.stderr).toBe("checked chatty with password ***\n");
    expect(JSON.stringify(logger.lines)).not.toContain("hunter2-secret");
  });

  it("bounds concurrency: beyond the queue, requests get ERR_OVERLOADED", async () => {
    const narrow = createExtAuthenticator({ command: EXT_AUTH, maxConcurrent: 1, timeoutMs: 400 });
    const runs = Array.from({ length: 6 }, () =>
      narrow.authenticate(authn("hang")).catch((e) => e),
    );
    const results = await Promise.all(runs);
    const codes = results.map((e: RegauthError) => e.code).sort();
    expect(codes.filter((c) => c === "ERR_OVERLOADED")).toHaveLength(1);
    expect(codes.filter((c) => c === "ERR_BACKEND_UNAVAILABLE")).toHaveLength(5);
  }, 10_000);

  it("refuses a program that does not exist, naming the option", () => {
    expect(() => createExtAuthenticator({ command: "no-such-program-here" })).toThrow(
      "command: not found on PATH",
    );
    expect(() => createExtAuthenticator({ command: "./relative.sh" })).toThrow(
      "command: expected an absolute path or a name found on PATH",
    );
  });
});
