import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "./peers.js";
import { tail } from "./registry.js";

/** Options of {@link startExampleApp}. */
export interface ExampleAppOptions {
  /** The PEM private key file that signs the tokens. */
  readonly keyPath: string;
  /** The PEM certificate file of that key. */
  readonly certificatePath: string;
  /** An htpasswd file of bcrypt entries. */
  readonly htpasswdPath: string;
  /** Where the app writes `rootcertbundle.pem` and `jwks.json`. */
  readonly trustDir: string;
  /** The registry's `auth.token.service`. */
  readonly service: string;
  /** The registry's `auth.token.issuer`. */
  readonly issuer: string;
  /** How long to wait for the app to listen, in milliseconds. Default 30 000. */
  readonly startTimeoutMs?: number;
}

/** A running example app (a child process). */
export interface RunningExampleApp {
  /** `http://127.0.0.1:PORT`. */
  readonly origin: string;
  /** Its token endpoint, the registry's realm: `<origin>/registry/auth`. */
  readonly realm: string;
  /** The bundle the app exported, for the registry's `rootcertbundle`. */
  readonly rootCertBundlePath: string;
  /** The JWKS the app exported (registry 3.x). */
  readonly jwksPath: string;
  /** Everything the app printed so far. */
  output(): string;
  /** Stops the app (SIGTERM, then SIGKILL after 5 s). Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Runs `examples/<name>` as its README says (`node --conditions=regauth:source
 * --import tsx src/main.ts`) on a free loopback port, and waits for its
 * `listening on` line.
 *
 * @throws Error when the app exits or does not listen in time, with its output.
 */
export async function startExampleApp(
  name: "express" | "koa",
  options: ExampleAppOptions,
): Promise<RunningExampleApp> {
  const cwd = join(repoRoot, "examples", name);
  const child = spawn(
    process.execPath,
    [
      "--conditions=regauth:source",
      "--import",
      "tsx",
      "src/main.ts",
      "--addr",
      "127.0.0.1:0",
      "--key",
      options.keyPath,
      "--cert",
      options.certificatePath,
      "--htpasswd",
      options.htpasswdPath,
      "--service",
      options.service,
      "--issuer",
      options.issuer,
      "--trust-dir",
      options.trustDir,
    ],
    { cwd, stdio: ["ignore", "pipe", "pipe"] },
  );
  const chunks: string[] = [];
  const output = () => chunks.join("");
  const exited = new Promise<string>((resolve) => {
    child.once("exit", (code, signal) => resolve(`exited with ${code ?? signal}`));
    child.once("error", (error) => resolve(`could not start: ${error.message}`));
  });
  const origin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`examples/${name} did not listen in time\n${tail(output(), 40)}`));
    }, options.startTimeoutMs ?? 30_000);
    const onData = (chunk: string) => {
      chunks.push(chunk);
      const found = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output());
      if (found) {
        clearTimeout(timer);
        resolve(found[1] as string);
      }
    };
    child.stdout?.setEncoding("utf8").on("data", onData);
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => chunks.push(chunk));
    void exited.then((reason) => {
      clearTimeout(timer);
      reject(new Error(`examples/${name} ${reason}\n${tail(output(), 40)}`));
    });
  });
  return {
    origin,
    realm: `${origin}/registry/auth`,
    rootCertBundlePath: join(options.trustDir, "rootcertbundle.pem"),
    jwksPath: join(options.trustDir, "jwks.json"),
    output,
    stop: () => stopChild(child, exited),
  };
}

async function stopChild(child: ChildProcess, exited: Promise<string>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  child.kill("SIGTERM");
  const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(killer);
}
