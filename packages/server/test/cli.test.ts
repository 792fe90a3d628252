import { type ChildProcess, spawn } from "node:child_process";
import { rename, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { createStaticAuthenticator, hashPassword } from "@regauth/authn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXT_AUTH, keyDir, writeConfig } from "./support.js";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

/** Runs `regauth ARGS` from source; resolves with exit code and output. */
function regauth(
  args: string[],
  input?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ["--conditions=regauth:source", "--import", "tsx", MAIN, ...args],
      {
        cwd: ROOT,
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.stdin.end(input ?? "");
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await keyDir());
});
afterAll(() => cleanup());

const config = (port: number, acl: string) => `
server: {addr: "127.0.0.1:${port}"}
token: {issuer: acme, certificate: signing-cert.pem, key: signing-key.pem, services: [registry.test]}
ext_auth: {command: ${EXT_AUTH}}
acl: ${acl}
`;

describe("regauth --help", () => {
  it("after any command prints the usage and exits 0, starting nothing", async () => {
    for (const args of [["serve", "--help"], ["check", "-h"], ["--help"]]) {
      const result = await regauth(args);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain("usage: regauth <command>");
      expect(result.stderr).toBe("");
    }
  });
});

describe("regauth hash-password", () => {
  it("hashes the password from stdin", async () => {
    const { code, stdout } = await regauth(["hash-password", "--cost", "4"], "s3cret\n");
    expect(code).toBe(0);
    const users = { u: { password: stdout.trim() } };
    const check = createStaticAuthenticator({ users });
    const request = { account: "u", password: "s3cret", service: "s", clientIp: undefined };
    expect(await check.authenticate(request)).toEqual({ result: "allow", labels: {} });
  });

  it("never takes the password from argv", async () => {
    const { code, stderr } = await regauth(["hash-password", "s3cret"]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/never taken from the command line/);
  });
});

describe("regauth check and explain", () => {
  it("check prints the registry block and the JWKS", async () => {
    const path = await writeConfig(dir, config(5999, "[]"), "check.yml");
    const { code, stdout } = await regauth(["check", path]);
    expect(code).toBe(0);
    expect(stdout).toContain('realm: "http://127.0.0.1:5999/auth"');
    expect(stdout).toContain('service: "registry.test"');
    expect(stdout).toContain(`rootcertbundle: "${dir}/signing-cert.pem"`);
    expect(stdout).toContain('"kty": "EC"');
  });

  it("check fails with the path of the problem", async () => {
    const path = await writeConfig(
      dir,
      config(5999, "[{match: {acount: x}, actions: []}]"),
      "bad.yml",
    );
    const { code, stderr } = await regauth(["check", path]);
    expect(code).toBe(1);
    expect(stderr).toBe("regauth: acl[0].match.acount: unknown key\n");
  });

  it("explain names the deciding entry, or why each entry missed", async () => {
    const acl = `
  - {match: {account: admin}, actions: ["*"], comment: "admin does everything"}
  - {match: {labels: {team: "/^(dev|ops)$/"}, name: "\${labels:team}/*"}, actions: [pull, push], comment: "team namespaces"}
  - {match: {ip: "10.0.0.0/8", type: registry}, actions: ["*"]}`;
    const path = await writeConfig(dir, config(5999, acl), "explain.yml");
    const { code, stdout } = await regauth([
      "explain",
      path,
      "--account",
      "alice",
      "--label",
      "team=dev",
      "--ip",
      "192.168.1.1",
      "--scope",
      "repository:dev/app:pull,push,delete",
      "--scope",
      "registry:catalog:*",
    ]);
    expect(code).toBe(0);
    expect(stdout).toBe(`account "alice", labels team=[dev], ip 192.168.1.1

repository:dev/app:pull,push,delete
  granted  pull, push
  by       acl[1] "team namespaces", allows pull, push
           \${labels:team} in name was "dev"
           not granted: delete (the entry does not allow them)

registry:catalog:*
  granted  nothing
  no acl entry matched:
    acl[0] "admin does everything": account: "alice" does not match "admin"
    acl[1] "team namespaces": name: "catalog" does not match "\${labels:team}/*"
    acl[2]: ip: 192.168.1.1 does not match "10.0.0.0/8"
  no other authorizer decides, so the scope gets no actions
`);
  });
});

describe("regauth serve", () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill("SIGKILL");
  });

  async function startServe(
    path: string,
  ): Promise<{ child: ChildProcess; output: () => string; exited: Promise<number | null> }> {
    const proc = spawn(
      process.execPath,
      ["--conditions=regauth:source", "--import", "tsx", MAIN, "serve", path],
      {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    child = proc;
    let output = "";
    proc.stdout.on("data", (chunk) => {
      output += chunk;
    });
    proc.stderr.on("data", (chunk) => {
      output += chunk;
    });
    const exited = new Promise<number | null>((resolve) =>
      proc.once("exit", (code) => resolve(code)),
    );
    const deadline = Date.now() + 15_000;
    while (!output.includes("listening on")) {
      if (Date.now() > deadline || proc.exitCode !== null)
        throw new Error(`serve did not start:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return { child: proc, output: () => output, exited };
  }

  const token = async (port: number, user: string, scope: string) => {
    const response = await fetch(
      `http://127.0.0.1:${port}/auth?service=registry.test&scope=${scope}`,
      {
        headers: { authorization: `Basic ${Buffer.from(`${user}:pw`).toString("base64")}` },
      },
    );
    const body = (await response.json()) as { token?: string };
    const claims = body.token
      ? JSON.parse(Buffer.from(body.token.split(".")[1] ?? "", "base64url").toString())
      : undefined;
    return {
      status: response.status,
      actions: claims?.access?.[0]?.actions as string[] | undefined,
    };
  };

  it("reloads a good edit, keeps serving through a broken one", async () => {
    const port = await freePort();
    const path = await writeConfig(
      dir,
      config(port, "[{match: {account: quiet}, actions: [pull]}]"),
      "serve.yml",
    );
    const server = await startServe(path);
    expect(await token(port, "quiet", "repository:a/b:pull,push")).toEqual({
      status: 200,
      actions: ["pull"],
    });

    await writeFile(path, config(port, "[{match: {account: quiet}, actions: [pull, push]}]"));
    const deadline = Date.now() + 5000;
    while ((await token(port, "quiet", "repository:a/b:pull,push")).actions?.length !== 2) {
      if (Date.now() > deadline) throw new Error(`no reload:\n${server.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    await writeFile(path, config(port, "[{match: {acount: quiet}, actions: []}]"));
    const failed = Date.now() + 5000;
    while (!server.output().includes("config reload failed")) {
      if (Date.now() > failed) throw new Error(`no reload failure logged:\n${server.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(server.output()).toContain("acl[0].match.acount: unknown key");
    expect(await token(port, "quiet", "repository:a/b:pull,push")).toEqual({
      status: 200,
      actions: ["pull", "push"],
    });

    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  }, 30_000);

  it("routes: the token paths (straight to the endpoint) need the real IP header; other paths are 404", async () => {
    const port = await freePort();
    const path = await writeConfig(
      dir,
      config(port, "[{match: {account: quiet}, actions: [pull]}]").replace(
        `server: {addr: "127.0.0.1:${port}"}`,
        `server: {addr: "127.0.0.1:${port}", real_ip_header: X-Real-IP}`,
      ),
      "routes.yml",
    );
    const server = await startServe(path);
    const get = (target: string, headers: Record<string, string>) =>
      fetch(`http://127.0.0.1:${port}${target}`, {
        headers: {
          authorization: `Basic ${Buffer.from("quiet:pw").toString("base64")}`,
          ...headers,
        },
      });
    const proxied = { "X-Real-IP": "192.0.2.7" };
    for (const target of ["/auth", "/auth/token"]) {
      const response = await get(
        `${target}?service=registry.test&scope=repository:a/b:pull`,
        proxied,
      );
      expect(response.status).toBe(200);
      expect(response.headers.get("cache-control")).toBe("no-store");
    }
    const bare = await get("/auth?service=registry.test", {});
    expect(bare.status).toBe(400);
    expect(await bare.text()).toContain("the X-Real-IP header is required");
    expect((await get("/v2/", proxied)).status).toBe(404);
    expect((await get("/auth/other", proxied)).status).toBe(404);
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  }, 30_000);

  it("a reload empties the credential cache: a changed password stops working at once", async () => {
    const port = await freePort();
    const usersConfig = async (password: string) => `
server: {addr: "127.0.0.1:${port}"}
token: {issuer: acme, certificate: signing-cert.pem, key: signing-key.pem, services: [registry.test]}
users: {carol: {password: "${await hashPassword(password, 4)}"}}
acl: [{match: {account: carol}, actions: [pull]}]
`;
    const path = await writeConfig(dir, await usersConfig("old-password"), "cache.yml");
    const server = await startServe(path);
    const ask = async (password: string) =>
      (
        await fetch(`http://127.0.0.1:${port}/auth?service=registry.test`, {
          headers: {
            authorization: `Basic ${Buffer.from(`carol:${password}`).toString("base64")}`,
          },
        })
      ).status;
    // Twice: the second answer comes from the credential cache (60 s by default).
    expect(await ask("old-password")).toBe(200);
    expect(await ask("old-password")).toBe(200);

    await writeFile(path, await usersConfig("new-password"));
    const deadline = Date.now() + 5000;
    while ((await ask("new-password")) !== 200) {
      if (Date.now() > deadline) throw new Error(`no reload:\n${server.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Without a fresh cache the old password would still pass for up to 60 s.
    expect(await ask("old-password")).toBe(401);

    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  }, 30_000);

  it("reloads when a file the config names changes: a password_file replaced by renaming", async () => {
    const port = await freePort();
    const hashFile = await writeConfig(dir, await hashPassword("first-password", 4), "dave.hash");
    const path = await writeConfig(
      dir,
      `
server: {addr: "127.0.0.1:${port}"}
token: {issuer: acme, certificate: signing-cert.pem, key: signing-key.pem, services: [registry.test]}
users: {dave: {password_file: dave.hash}}
acl: [{match: {account: dave}, actions: [pull]}]
`,
      "files.yml",
    );
    const server = await startServe(path);
    const ask = async (password: string) =>
      (
        await fetch(`http://127.0.0.1:${port}/auth?service=registry.test`, {
          headers: { authorization: `Basic ${Buffer.from(`dave:${password}`).toString("base64")}` },
        })
      ).status;
    expect(await ask("first-password")).toBe(200);

    // As a secret mount or a config manager does it: write aside, rename over.
    const aside = `${hashFile}.new`;
    await writeFile(aside, await hashPassword("second-password", 4));
    await rename(aside, hashFile);
    const deadline = Date.now() + 5000;
    while ((await ask("second-password")) !== 200) {
      if (Date.now() > deadline) throw new Error(`no reload:\n${server.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await ask("first-password")).toBe(401);

    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  }, 30_000);

  it("SIGTERM drains requests in flight and exits 0", async () => {
    const port = await freePort();
    const path = await writeConfig(dir, config(port, '[{match: {}, actions: ["*"]}]'), "drain.yml");
    const server = await startServe(path);
    // "slow" makes the ext_auth program sleep one second.
    const inFlight = Array.from({ length: 5 }, () => token(port, "slow", "repository:a/b:pull"));
    await new Promise((resolve) => setTimeout(resolve, 300));
    server.child.kill("SIGTERM");
    const results = await Promise.all(inFlight);
    expect(results).toEqual(Array.from({ length: 5 }, () => ({ status: 200, actions: ["pull"] })));
    expect(await server.exited).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/auth`)).rejects.toThrow();
  }, 30_000);
});
