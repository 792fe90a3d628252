import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AuthnRequest, RegauthError } from "@regauth/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createHtpasswdAuthenticator,
  type HtpasswdAuthenticatorOptions,
  hashPassword,
} from "../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "regauth-htpasswd-"));
let count = 0;

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(text: string): string {
  count += 1;
  const path = join(dir, `htpasswd-${count}`);
  writeFileSync(path, text);
  return path;
}

function asked(account: string, password: string): AuthnRequest {
  return { account, password, service: "registry.test", clientIp: undefined };
}

function configErrorOf(options: unknown): RegauthError {
  try {
    createHtpasswdAuthenticator(options as HtpasswdAuthenticatorOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(RegauthError);
    expect((error as RegauthError).code).toBe("ERR_CONFIG_INVALID");
    return error as RegauthError;
  }
  throw new Error("expected ERR_CONFIG_INVALID, nothing was thrown");
}

let alice: string; // "alice-pw"
let bob: string; // "bob:pw"

beforeAll(async () => {
  alice = await hashPassword("alice-pw", 4);
  bob = await hashPassword("bob:pw", 4);
});

describe("createHtpasswdAuthenticator", () => {
  it("lookup (a refresh token's account): an account in the file allows, another is no-match", async () => {
    const authenticator = createHtpasswdAuthenticator({ path: file(`alice:${alice}\n`) });
    const lookup = (account: string) =>
      authenticator.lookup?.({ account, service: "registry.test", clientIp: undefined });
    expect(await lookup("alice")).toEqual({ result: "allow", labels: {} });
    expect(await lookup("bob")).toEqual({ result: "no-match" });
  });

  it("reads bcrypt lines, skipping comments and blank lines, LF or CRLF", async () => {
    const path = file(
      [
        "# users of the registry",
        "",
        `alice:${alice.replace(/^\$2b\$/, "$2y$")}`,
        "   ",
        "  # indented comment",
        `bob:${bob}\r`,
        "",
      ].join("\n"),
    );
    const authenticator = createHtpasswdAuthenticator({ path });
    expect(authenticator.name).toBe("htpasswd");
    expect(await authenticator.authenticate(asked("alice", "alice-pw"))).toEqual({
      result: "allow",
      labels: {},
    });
    expect(await authenticator.authenticate(asked("bob", "bob:pw"))).toEqual({
      result: "allow",
      labels: {},
    });
    expect(await authenticator.authenticate(asked("alice", "bob:pw"))).toEqual({ result: "deny" });
    expect(await authenticator.authenticate(asked("carol", "alice-pw"))).toEqual({
      result: "no-match",
    });
    expect(await authenticator.authenticate(asked("", ""))).toEqual({ result: "no-match" });
  });

  it("reads a file written by libxcrypt's bcrypt (as htpasswd -B on Linux)", async () => {
    const path = file("alice:$2y$05$.U.Gq02rtzD9ZSTW29lkke58dmJXq/Z7JFauAtUinZ1ez8i2NcIze\n");
    const authenticator = createHtpasswdAuthenticator({ path, name: "legacy" });
    expect(authenticator.name).toBe("legacy");
    expect((await authenticator.authenticate(asked("alice", "secret"))).result).toBe("allow");
    expect((await authenticator.authenticate(asked("alice", "secret2"))).result).toBe("deny");
  });

  it("ignores a UTF-8 byte-order mark before the first user", async () => {
    const authenticator = createHtpasswdAuthenticator({ path: file(`\uFEFFalice:${alice}\n`) });
    expect((await authenticator.authenticate(asked("alice", "alice-pw"))).result).toBe("allow");
  });

  it("an empty file knows nobody", async () => {
    const authenticator = createHtpasswdAuthenticator({ path: file("") });
    expect(await authenticator.authenticate(asked("alice", "x"))).toEqual({ result: "no-match" });
  });

  it("reads the file once, at construction", async () => {
    const path = file(`alice:${alice}\n`);
    const authenticator = createHtpasswdAuthenticator({ path });
    writeFileSync(path, `alice:${bob}\n`);
    expect((await authenticator.authenticate(asked("alice", "alice-pw"))).result).toBe("allow");
  });

  describe("other schemes are refused with the line number and without the hash", () => {
    const cases: [label: string, hash: string, scheme: string, secret: string][] = [
      ["MD5 ($apr1$)", "$apr1$Vz8gEaTb$HgNWYvzoXSHd5AIdM2iZc/", "MD5 ($apr1$)", "HgNWYvzo"],
      ["SHA-1 ({SHA})", "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", "SHA-1 ({SHA})", "5en6G6Me"],
      ["crypt (DES)", "rl0Dg4QZbZf.s", "crypt or plain text", "rl0Dg4QZ"],
      ["plain text", "hunter2", "crypt or plain text", "hunter2"],
      [
        "SHA-512 crypt ($6$)",
        "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4Xxs",
        "crypt (SHA/MD5)",
        "qFmFH",
      ],
      ["MD5 crypt ($1$)", "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", "crypt (SHA/MD5)", "qjXMvbEw"],
      ["a cut bcrypt", "$2y$05$.U.Gq02rtzD9ZSTW29lkke58dmJXq", "malformed bcrypt", ".U.Gq02r"],
    ];
    it.each(cases)("%s", (_label, hash, scheme, secret) => {
      const path = file(`# header\nalice:${alice}\n${"\n"}bob:${hash}\n`);
      const error = configErrorOf({ path });
      expect(error.message).toBe(
        `htpasswd ${path} line 4: user "bob" has a ${scheme} hash; only bcrypt is accepted (htpasswd -B)`,
      );
      expect(error.message).not.toContain(secret);
    });
  });

  it("a line without a colon names the line, not its text", () => {
    const path = file(`alice:${alice}\njust-a-password-line\n`);
    const error = configErrorOf({ path });
    expect(error.message).toBe(`htpasswd ${path} line 2: expected user:hash`);
    expect(error.message).not.toContain("just-a-password-line");
  });

  it("an empty user is refused", () => {
    const path = file(`:${alice}\n`);
    expect(configErrorOf({ path }).message).toBe(`htpasswd ${path} line 1: expected user:hash`);
  });

  it("a user listed twice is refused at the second line", () => {
    const path = file(`alice:${alice}\nbob:${bob}\nalice:${bob}\n`);
    expect(configErrorOf({ path }).message).toBe(
      `htpasswd ${path} line 3: user "alice" is listed twice`,
    );
  });

  it("a file that does not exist", () => {
    const path = join(dir, "missing");
    const error = configErrorOf({ path });
    expect(error.message).toBe(`htpasswd ${path}: cannot be read`);
    expect((error.cause as NodeJS.ErrnoException).code).toBe("ENOENT");
  });

  it("a directory", () => {
    const error = configErrorOf({ path: dir });
    expect(error.message).toBe(`htpasswd ${dir}: cannot be read`);
    expect((error.cause as NodeJS.ErrnoException).code).toBe("EISDIR");
  });

  it("bad options name the path", () => {
    expect(configErrorOf({}).message).toBe(
      "path: invalid input: expected string, received undefined",
    );
    expect(configErrorOf({ path: file(""), file: "x" }).message).toBe("file: unknown key");
  });
});

describe("createHtpasswdAuthenticator: an unknown account costs a bcrypt", () => {
  it("unknown-account latency is at least half of wrong-password latency", async () => {
    const path = file(`alice:${await hashPassword("alice-pw", 12)}\n`);
    const authenticator = createHtpasswdAuthenticator({ path });
    const time = async (request: AuthnRequest) => {
      const started = performance.now();
      await authenticator.authenticate(request);
      return performance.now() - started;
    };
    const wrong: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      wrong.push(await time(asked("alice", "wrong")));
      unknown.push(await time(asked("mallory", "wrong")));
    }
    const median = (values: number[]) => values.sort((a, b) => a - b)[1] as number;
    expect(median(wrong)).toBeGreaterThan(20);
    expect(median(unknown)).toBeGreaterThanOrEqual(median(wrong) / 2);
  }, 20_000);
});
