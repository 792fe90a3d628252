import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { OciImage } from "@regauth/example-standalone/demo-image";
import { type CommandResult, runCommand } from "./exec.js";
import { peerPath } from "./peers.js";
import type { Credentials } from "./skopeo.js";

/** The outcome of a pull: the command's result and the manifest digest the client saw. */
export interface PullResult extends CommandResult {
  readonly digest: string | undefined;
}

/**
 * One registry client driven as a person would from a shell, with all its
 * state (credentials, storage, config) in a private folder. Every command
 * talks plain http to a loopback registry at `host`.
 */
export interface MatrixClient {
  readonly name: string;
  /** The programs it needs (for checkPeers). */
  readonly peers: readonly string[];
  /** Whether a push keeps the source layout's manifest digest (podman re-writes it). */
  readonly preservesDigest: boolean;
  /** Logs in with the client's own login command; absent when it has none. */
  login?(creds: Credentials): Promise<CommandResult>;
  /** Pushes `image` (an OCI layout) to `repo:latest`. */
  push(image: OciImage, repo: string, creds: Credentials): Promise<CommandResult>;
  /** Pulls `repo:latest` and reports its manifest digest. */
  pull(repo: string, creds: Credentials): Promise<PullResult>;
  /** Copies `from:latest` to `to:latest` inside the registry (a cross-repository blob mount). */
  copy(from: string, to: string, creds: Credentials): Promise<CommandResult>;
  /**
   * Stores `refreshToken` where the client reads a docker login's identity
   * token (`identitytoken` in its auth file) instead of a password; absent
   * when the client has no such place.
   */
  useRefreshToken?(username: string, refreshToken: string): Promise<void>;
  /** Pulls `repo:latest` with the stored refresh token (no password); with `useRefreshToken` only. */
  pullWithStoredAuth?(repo: string): Promise<PullResult>;
  /** The last command and its output, for failure messages. */
  lastOutput(): string;
}

/** What every client factory gets. */
export interface ClientSetup {
  /** A fresh private folder. */
  readonly dir: string;
  /** `localhost:PORT` of the registry. */
  readonly host: string;
  /** Registers a clean-up step (daemons, folders outside `dir`). */
  readonly defer: (step: () => Promise<void>) => void;
}

const userPass = (c: Credentials) => `${c.username}:${c.password}`;

/** Runs commands with a private environment and keeps a redacted history. */
function runner(binary: string, env: NodeJS.ProcessEnv, secrets: () => string[]) {
  let last = "(not run)";
  const redact = (text: string) =>
    secrets().reduce((out, secret) => (secret === "" ? out : out.split(secret).join("***")), text);
  return {
    async run(args: string[], options: { cwd?: string } = {}): Promise<CommandResult> {
      const result = await runCommand(binary, args, { env, timeoutMs: 120_000, ...options });
      last = redact(
        `${binary} ${args.join(" ")} -> exit ${result.code ?? result.signal}\n--- stdout ---\n${result.stdout.slice(-2000)}\n--- stderr ---\n${result.stderr.slice(-4000)}`,
      );
      return result;
    },
    lastOutput: () => last,
  };
}

async function privateEnv(dir: string): Promise<NodeJS.ProcessEnv> {
  const home = join(dir, "home");
  const runtime = join(dir, "run");
  const tmp = join(dir, "tmp");
  await Promise.all([home, runtime, tmp].map((d) => mkdir(d, { recursive: true, mode: 0o700 })));
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    XDG_RUNTIME_DIR: runtime,
    XDG_CONFIG_HOME: join(home, ".config"),
    TMPDIR: tmp,
  };
}

/** Writes a docker-style auth file holding an identity (refresh) token for `host`. */
async function writeIdentityToken(path: string, host: string, username: string, token: string) {
  const auth = Buffer.from(`${username}:`).toString("base64");
  await writeFile(path, JSON.stringify({ auths: { [host]: { auth, identitytoken: token } } }), {
    mode: 0o600,
  });
}

const digestPattern = /sha256:[0-9a-f]{64}/;

// ---- skopeo (containers/image): GET with a password, POST refresh_token with an identity token.
export async function createSkopeoClient({ dir, host }: ClientSetup): Promise<MatrixClient> {
  const env = await privateEnv(dir);
  const authfile = join(dir, "auth.json");
  const policy = join(dir, "policy.json");
  await writeFile(authfile, JSON.stringify({ auths: {} }), { mode: 0o600 });
  await writeFile(policy, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
  env.REGISTRY_AUTH_FILE = authfile;
  const secrets: string[] = [];
  const r = runner(peerPath("skopeo"), env, () => secrets);
  const global = ["--policy", policy, "--tmpdir", env.TMPDIR as string];
  const ref = (repo: string) => `docker://${host}/${repo}:latest`;
  let pulls = 0;
  const inspect = async (repo: string, creds?: Credentials): Promise<PullResult> => {
    const target = join(dir, `pulled-${++pulls}`);
    const auth = creds ? ["--src-creds", userPass(creds)] : ["--authfile", authfile];
    const copied = await r.run([
      ...global,
      "copy",
      "--src-tls-verify=false",
      ...auth,
      ref(repo),
      `oci:${target}:latest`,
    ]);
    if (copied.code !== 0) return { ...copied, digest: undefined };
    const index = JSON.parse(await readFile(join(target, "index.json"), "utf8")) as {
      manifests: { digest: string }[];
    };
    return { ...copied, digest: index.manifests[0]?.digest };
  };
  return {
    name: "skopeo",
    peers: ["skopeo"],
    preservesDigest: true,
    login(creds) {
      secrets.push(creds.password);
      return r.run([
        "login",
        "--authfile",
        authfile,
        "--tls-verify=false",
        "-u",
        creds.username,
        "-p",
        creds.password,
        host,
      ]);
    },
    push(image, repo, creds) {
      secrets.push(creds.password);
      return r.run([
        ...global,
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--dest-creds",
        userPass(creds),
        image.reference,
        ref(repo),
      ]);
    },
    pull: (repo, creds) => inspect(repo, creds),
    copy(from, to, creds) {
      return r.run([
        ...global,
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--src-creds",
        userPass(creds),
        "--dest-creds",
        userPass(creds),
        ref(from),
        ref(to),
      ]);
    },
    useRefreshToken(username, token) {
      secrets.push(token);
      return writeIdentityToken(authfile, host, username, token);
    },
    pullWithStoredAuth: (repo) => inspect(repo),
    lastOutput: r.lastOutput,
  };
}

// ---- podman (containers/image with its own storage).
export async function createPodmanClient({ dir, host, defer }: ClientSetup): Promise<MatrixClient> {
  const env = await privateEnv(dir);
  // podman refuses a runroot path longer than 50 characters.
  const runroot = await mkdtemp("/tmp/rgp-");
  defer(() => rm(runroot, { recursive: true, force: true }));
  const authfile = join(dir, "auth.json");
  await writeFile(authfile, JSON.stringify({ auths: {} }), { mode: 0o600 });
  env.REGISTRY_AUTH_FILE = authfile;
  const secrets: string[] = [];
  const r = runner(peerPath("podman"), env, () => secrets);
  const global = [
    "--root",
    join(dir, "storage"),
    "--runroot",
    runroot,
    "--storage-driver",
    "vfs",
    "--cgroup-manager",
    "cgroupfs",
    "--events-backend",
    "none",
  ];
  const name = (repo: string) => `${host}/${repo}:latest`;
  let loaded: string | undefined;
  const pull = async (repo: string, creds?: Credentials): Promise<PullResult> => {
    const auth = creds ? ["--creds", userPass(creds)] : ["--authfile", authfile];
    const pulled = await r.run([...global, "pull", "--tls-verify=false", ...auth, name(repo)]);
    if (pulled.code !== 0) return { ...pulled, digest: undefined };
    const digest = await r.run([
      ...global,
      "image",
      "inspect",
      "--format",
      "{{.Digest}}",
      name(repo),
    ]);
    return { ...pulled, digest: digest.stdout.match(digestPattern)?.[0] };
  };
  return {
    name: "podman",
    peers: ["podman"],
    preservesDigest: false,
    login(creds) {
      secrets.push(creds.password);
      return r.run([
        ...global,
        "login",
        "--tls-verify=false",
        "--authfile",
        authfile,
        "-u",
        creds.username,
        "-p",
        creds.password,
        host,
      ]);
    },
    async push(image, repo, creds) {
      secrets.push(creds.password);
      if (loaded === undefined) {
        // podman names an `oci:` image after its path, which must be lower case.
        const layout = image.reference.slice("oci:".length, image.reference.lastIndexOf(":"));
        const lower = `/tmp/regauth-podman-source-${process.pid}-${Date.now()}`;
        await cp(layout, lower, { recursive: true });
        defer(() => rm(lower, { recursive: true, force: true }));
        const load = await r.run([...global, "pull", `oci:${lower}:latest`]);
        if (load.code !== 0) return load;
        loaded = (load.stdout.trim().split("\n").at(-1) ?? "").trim();
      }
      return r.run([
        ...global,
        "push",
        "--tls-verify=false",
        "--creds",
        userPass(creds),
        loaded,
        `docker://${name(repo)}`,
      ]);
    },
    pull: (repo, creds) => pull(repo, creds),
    async copy(from, to, creds) {
      const pulled = await pull(from, creds);
      if (pulled.code !== 0) return pulled;
      return r.run([
        ...global,
        "push",
        "--tls-verify=false",
        "--creds",
        userPass(creds),
        name(from),
        `docker://${name(to)}`,
      ]);
    },
    useRefreshToken(username, token) {
      secrets.push(token);
      return writeIdentityToken(authfile, host, username, token);
    },
    async pullWithStoredAuth(repo) {
      // A fresh storage: a pull of an image already present would skip the registry.
      await r.run([...global, "rmi", "--all", "--force"]);
      loaded = undefined;
      return pull(repo);
    },
    lastOutput: r.lastOutput,
  };
}

// ---- containerd `ctr` with a private daemon: POSTs the password grant first.
export async function createCtrClient({ dir, host, defer }: ClientSetup): Promise<MatrixClient> {
  const env = await privateEnv(dir);
  const sock = join(dir, "containerd.sock");
  const config = join(dir, "containerd.toml");
  await writeFile(
    config,
    [
      "version = 2",
      `root = "${join(dir, "root")}"`,
      `state = "${join(dir, "state")}"`,
      "[grpc]",
      `  address = "${sock}"`,
      "[plugins]",
      '  [plugins."io.containerd.grpc.v1.cri"]',
      "    disable = true",
      "",
    ].join("\n"),
  );
  const { spawn } = await import("node:child_process");
  const daemon = spawn(peerPath("containerd"), ["--config", config], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  const daemonLog: string[] = [];
  daemon.stderr?.setEncoding("utf8").on("data", (chunk: string) => daemonLog.push(chunk));
  defer(async () => {
    if (daemon.exitCode !== null) return;
    const done = new Promise((resolve) => daemon.once("exit", resolve));
    daemon.kill("SIGTERM");
    const killer = setTimeout(() => daemon.kill("SIGKILL"), 5_000);
    await done;
    clearTimeout(killer);
  });
  const secrets: string[] = [];
  const r = runner(peerPath("ctr"), env, () => secrets);
  const global = ["--address", sock, "--namespace", "regauth"];
  for (let i = 0; i < 100; i++) {
    const up = await r.run([...global, "version"]);
    if (up.code === 0) break;
    if (daemon.exitCode !== null || i === 99) {
      throw new Error(`containerd did not start:\n${daemonLog.join("").slice(-3000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const name = (repo: string) => `${host}/${repo}:latest`;
  const pull = async (repo: string, creds: Credentials): Promise<PullResult> => {
    await r.run([...global, "images", "rm", name(repo)]);
    const pulled = await r.run([
      ...global,
      "images",
      "pull",
      "--plain-http",
      "--user",
      userPass(creds),
      name(repo),
    ]);
    if (pulled.code !== 0) return { ...pulled, digest: undefined };
    const listed = await r.run([...global, "images", "ls", `name==${name(repo)}`]);
    return { ...pulled, digest: listed.stdout.match(digestPattern)?.[0] };
  };
  let imported = false;
  return {
    name: "ctr",
    peers: ["ctr", "containerd", "tar"],
    // `ctr images import --index-name` names the layout's index: that is what it pushes.
    preservesDigest: false,
    async push(image, repo, creds) {
      secrets.push(creds.password);
      const local = "regauth.test/source:latest";
      if (!imported) {
        const layout = image.reference.slice("oci:".length, image.reference.lastIndexOf(":"));
        const archive = join(dir, "layout.tar");
        const tar = await runCommand(peerPath("tar"), ["-C", layout, "-cf", archive, "."]);
        if (tar.code !== 0) return tar;
        const done = await r.run([...global, "images", "import", "--index-name", local, archive]);
        if (done.code !== 0) return done;
        imported = true;
      }
      return r.run([
        ...global,
        "images",
        "push",
        "--plain-http",
        "--user",
        userPass(creds),
        name(repo),
        local,
      ]);
    },
    pull: (repo, creds) => pull(repo, creds),
    async copy(from, to, creds) {
      const pulled = await pull(from, creds);
      if (pulled.code !== 0) return pulled;
      return r.run([
        ...global,
        "images",
        "push",
        "--plain-http",
        "--user",
        userPass(creds),
        name(to),
        name(from),
      ]);
    },
    lastOutput: r.lastOutput,
  };
}

// ---- crane (go-containerregistry): docker config; an identitytoken drives POST refresh_token.
export async function createCraneClient({ dir, host }: ClientSetup): Promise<MatrixClient> {
  const env = await privateEnv(dir);
  const dockerConfig = join(dir, "docker");
  await mkdir(dockerConfig, { recursive: true });
  env.DOCKER_CONFIG = dockerConfig;
  const secrets: string[] = [];
  const r = runner(peerPath("crane"), env, () => secrets);
  const ref = (repo: string) => `${host}/${repo}:latest`;
  const login = (creds: Credentials) => {
    secrets.push(creds.password);
    return r.run(["auth", "login", host, "-u", creds.username, "-p", creds.password]);
  };
  const pull = async (repo: string): Promise<PullResult> => {
    const digest = await r.run(["digest", "--insecure", ref(repo)]);
    if (digest.code !== 0) return { ...digest, digest: undefined };
    const pulled = await r.run([
      "pull",
      "--insecure",
      "--format",
      "oci",
      ref(repo),
      join(dir, `pulled-${Date.now()}`),
    ]);
    return { ...pulled, digest: digest.stdout.match(digestPattern)?.[0] };
  };
  return {
    name: "crane",
    peers: ["crane"],
    preservesDigest: true,
    login,
    async push(image, repo, creds) {
      const logged = await login(creds);
      if (logged.code !== 0) return logged;
      const layout = image.reference.slice("oci:".length, image.reference.lastIndexOf(":"));
      return r.run(["push", "--insecure", layout, ref(repo)]);
    },
    async pull(repo, creds) {
      const logged = await login(creds);
      if (logged.code !== 0) return { ...logged, digest: undefined };
      return pull(repo);
    },
    async copy(from, to, creds) {
      const logged = await login(creds);
      if (logged.code !== 0) return logged;
      return r.run(["copy", "--insecure", ref(from), ref(to)]);
    },
    useRefreshToken(username, token) {
      secrets.push(token);
      return writeIdentityToken(join(dockerConfig, "config.json"), host, username, token);
    },
    pullWithStoredAuth: (repo) => pull(repo),
    lastOutput: r.lastOutput,
  };
}

// ---- oras (oras-go): docker-style registry config; an identitytoken drives POST refresh_token.
export async function createOrasClient({ dir, host }: ClientSetup): Promise<MatrixClient> {
  const env = await privateEnv(dir);
  const config = join(dir, "oras-auth.json");
  await writeFile(config, JSON.stringify({ auths: {} }), { mode: 0o600 });
  const secrets: string[] = [];
  const r = runner(peerPath("oras"), env, () => secrets);
  const ref = (repo: string) => `${host}/${repo}:latest`;
  const creds = (c: Credentials, side = "") => [
    `--${side}username`,
    c.username,
    `--${side}password`,
    c.password,
  ];
  const resolve = async (repo: string, auth: string[]): Promise<PullResult> => {
    const pulled = await r.run([
      "cp",
      "--from-registry-config",
      config,
      "--from-plain-http",
      ...auth,
      ref(repo),
      "--to-oci-layout",
      `${join(dir, `pulled-${Date.now()}`)}:latest`,
    ]);
    if (pulled.code !== 0) return { ...pulled, digest: undefined };
    const digest = await r.run([
      "resolve",
      "--registry-config",
      config,
      "--plain-http",
      ...auth.map((a) => a.replace("--from-", "--")),
      ref(repo),
    ]);
    return { ...pulled, digest: digest.stdout.match(digestPattern)?.[0] };
  };
  return {
    name: "oras",
    peers: ["oras"],
    preservesDigest: true,
    login(c) {
      secrets.push(c.password);
      return r.run([
        "login",
        "--registry-config",
        config,
        "--plain-http",
        "-u",
        c.username,
        "-p",
        c.password,
        host,
      ]);
    },
    push(image, repo, c) {
      secrets.push(c.password);
      return r.run([
        "cp",
        "--to-registry-config",
        config,
        "--from-oci-layout",
        image.reference.slice("oci:".length),
        "--to-plain-http",
        ...creds(c, "to-"),
        ref(repo),
      ]);
    },
    pull: (repo, c) => resolve(repo, creds(c, "from-")),
    copy(from, to, c) {
      return r.run([
        "cp",
        "--from-registry-config",
        config,
        "--to-registry-config",
        config,
        "--from-plain-http",
        "--to-plain-http",
        ...creds(c, "from-"),
        ...creds(c, "to-"),
        ref(from),
        ref(to),
      ]);
    },
    useRefreshToken(username, token) {
      secrets.push(token);
      return writeIdentityToken(config, host, username, token);
    },
    pullWithStoredAuth: (repo) => resolve(repo, []),
    lastOutput: r.lastOutput,
  };
}

// ---- regctl (regclient): its own config; logs in per user.
export async function createRegctlClient({ dir, host }: ClientSetup): Promise<MatrixClient> {
  const env = await privateEnv(dir);
  const secrets: string[] = [];
  const r = runner(peerPath("regctl"), env, () => secrets);
  const ref = (repo: string) => `${host}/${repo}:latest`;
  let tlsSet = false;
  const login = async (c: Credentials) => {
    secrets.push(c.password);
    if (!tlsSet) {
      // It pings without credentials (401: exit 1) but keeps the setting.
      await r.run(["registry", "set", host, "--tls", "disabled"]);
      tlsSet = true;
    }
    return r.run(["registry", "login", host, "-u", c.username, "-p", c.password]);
  };
  const pull = async (repo: string): Promise<PullResult> => {
    const pulled = await r.run([
      "image",
      "copy",
      ref(repo),
      `ocidir://${join(dir, `pulled-${Date.now()}`)}:latest`,
    ]);
    if (pulled.code !== 0) return { ...pulled, digest: undefined };
    const digest = await r.run(["image", "digest", ref(repo)]);
    return { ...pulled, digest: digest.stdout.match(digestPattern)?.[0] };
  };
  return {
    name: "regctl",
    peers: ["regctl"],
    preservesDigest: true,
    login,
    async push(image, repo, c) {
      const logged = await login(c);
      if (logged.code !== 0) return logged;
      const layout = image.reference.slice("oci:".length);
      return r.run(["image", "copy", `ocidir://${layout}`, ref(repo)]);
    },
    async pull(repo, c) {
      const logged = await login(c);
      if (logged.code !== 0) return { ...logged, digest: undefined };
      return pull(repo);
    },
    async copy(from, to, c) {
      const logged = await login(c);
      if (logged.code !== 0) return logged;
      return r.run(["image", "copy", ref(from), ref(to)]);
    },
    lastOutput: r.lastOutput,
  };
}
