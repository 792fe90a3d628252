import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type CommandResult, runCommand } from "./exec.js";
import { peerPath } from "./peers.js";

/** A user name and password for a registry. */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** Options of {@link Skopeo.copy}. Absent credentials mean an anonymous request. */
export interface CopyOptions {
  readonly srcCreds?: Credentials;
  readonly destCreds?: Credentials;
}

/** The outcome of {@link Skopeo.inspect}: the command's result and, when it worked, the digest. */
export interface InspectResult extends CommandResult {
  /** The `Digest` skopeo reported (`sha256:<hex>`), or `undefined` when it failed. */
  readonly digest: string | undefined;
}

/** Runs skopeo with its state kept in a private folder. */
export interface Skopeo {
  /**
   * `skopeo copy --preserve-digests SRC DEST`, TLS verification off for `docker://`
   * ends (plain-http loopback registry). Resolves with the exit code and output.
   */
  copy(src: string, dest: string, options?: CopyOptions): Promise<CommandResult>;
  /** `skopeo inspect REF` (`--creds` when given); parses the `Digest` on success. */
  inspect(ref: string, creds?: Credentials): Promise<InspectResult>;
  /** Every command run so far with its result, newest last, for failure messages. */
  readonly history: ReadonlyArray<{
    readonly args: readonly string[];
    readonly result: CommandResult;
  }>;
  /** The last command and its stderr, for failure messages. */
  lastOutput(): string;
}

/**
 * Makes a {@link Skopeo} whose auth file, trust policy, temp files, `HOME` and
 * `XDG_RUNTIME_DIR` all live under `dir`, so tests never read or write the
 * user's registry credentials. The policy accepts any image (no signatures).
 *
 * @example
 * const skopeo = await createSkopeo(await cleanup.tempDir("skopeo-"));
 * const pushed = await skopeo.copy(image.reference, `docker://${registry.host}/demo:latest`,
 *   { destCreds: { username: "admin", password: "pw" } });
 */
export async function createSkopeo(dir: string): Promise<Skopeo> {
  const binary = peerPath("skopeo");
  const home = join(dir, "home");
  const runtime = join(dir, "run");
  const tmp = join(dir, "tmp");
  await Promise.all([home, runtime, tmp].map((d) => mkdir(d, { recursive: true, mode: 0o700 })));
  const authfile = join(dir, "auth.json");
  const policy = join(dir, "policy.json");
  await writeFile(authfile, JSON.stringify({ auths: {} }), { mode: 0o600 });
  await writeFile(policy, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));

  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    XDG_RUNTIME_DIR: runtime,
    XDG_CONFIG_HOME: join(home, ".config"),
    TMPDIR: tmp,
    REGISTRY_AUTH_FILE: authfile,
  };
  const history: Array<{ args: readonly string[]; result: CommandResult }> = [];
  const global = ["--policy", policy, "--tmpdir", tmp, "--command-timeout", "90s"];
  const creds = (c: Credentials) => `${c.username}:${c.password}`;
  const isDocker = (ref: string) => ref.startsWith("docker://");

  async function run(args: string[]): Promise<CommandResult> {
    const result = await runCommand(binary, [...global, ...args], { env, timeoutMs: 120_000 });
    history.push({ args: redact(args), result });
    return result;
  }

  return {
    history,
    async copy(src, dest, options = {}) {
      const args = ["copy", "--preserve-digests", "--authfile", authfile];
      if (isDocker(src)) {
        args.push("--src-tls-verify=false");
        args.push(
          ...(options.srcCreds ? ["--src-creds", creds(options.srcCreds)] : ["--src-no-creds"]),
        );
      }
      if (isDocker(dest)) {
        args.push("--dest-tls-verify=false");
        args.push(
          ...(options.destCreds ? ["--dest-creds", creds(options.destCreds)] : ["--dest-no-creds"]),
        );
      }
      return run([...args, src, dest]);
    },
    async inspect(ref, credentials) {
      const args = ["inspect", "--authfile", authfile];
      if (isDocker(ref)) {
        args.push("--tls-verify=false");
        args.push(...(credentials ? ["--creds", creds(credentials)] : ["--no-creds"]));
      }
      const result = await run([...args, ref]);
      let digest: string | undefined;
      if (result.code === 0) {
        const parsed = JSON.parse(result.stdout) as { Digest?: unknown };
        if (typeof parsed.Digest === "string") digest = parsed.Digest;
      }
      return { ...result, digest };
    },
    lastOutput() {
      const last = history.at(-1);
      if (last === undefined) return "(skopeo was not run)";
      return `skopeo ${last.args.join(" ")} -> exit ${last.result.code ?? last.result.signal}\n--- skopeo stderr ---\n${last.result.stderr.trimEnd()}`;
    },
  };
}

/** Hides the password of `--*creds user:pass` arguments. */
function redact(args: readonly string[]): string[] {
  return args.map((arg, i) => {
    const previous = args[i - 1];
    if (previous === undefined || !/^--(src-|dest-)?creds$/.test(previous)) return arg;
    const colon = arg.indexOf(":");
    return colon < 0 ? arg : `${arg.slice(0, colon)}:***`;
  });
}
