import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { peerPath } from "./peers.js";
import { freePort } from "./ports.js";

/** Options of {@link startRegistry}. */
export interface RegistryOptions {
  /** A fresh directory for the config and the storage; the caller removes it. */
  readonly dir: string;
  /** The token endpoint the registry sends clients to (`auth.token.realm`). */
  readonly realm: string;
  /** The registry's service name (`auth.token.service`): the tokens' `aud`. */
  readonly service: string;
  /** The tokens' expected `iss` (`auth.token.issuer`). */
  readonly issuer: string;
  /**
   * PEM certificates the token signatures must chain to (`auth.token.rootcertbundle`).
   * Give this or `jwksPath`.
   */
  readonly rootCertBundlePath?: string;
  /** A JWKS file of trusted keys (`auth.token.jwks`, distribution 3.x only). */
  readonly jwksPath?: string;
  /**
   * Which registry runs: `"2.8"`, Debian's `docker-registry`, or `"3.x"`,
   * distribution's `registry` (`go install`ed into .cache/bin). Default `"2.8"`.
   */
  readonly generation?: "2.8" | "3.x";
  /** `storage.delete.enabled`: lets manifests and blobs be deleted. Default `false`. */
  readonly deleteEnabled?: boolean;
  /** How long to wait for the registry to answer, in milliseconds. Default 20 000. */
  readonly startTimeoutMs?: number;
}

/** A running registry process. */
export interface RunningRegistry {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  readonly url: string;
  /** `127.0.0.1:PORT`, for image references (`docker://127.0.0.1:PORT/name:tag`). */
  readonly host: string;
  readonly port: number;
  /** Everything the registry printed so far (stdout and stderr interleaved). */
  log(): string;
  /** The last `lines` lines of {@link RunningRegistry.log}, for failure messages. Default 40. */
  logTail(lines?: number): string;
  /** Stops the process (SIGTERM, then SIGKILL after 5 s). Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts a registry with token auth and filesystem storage under `options.dir`
 * on a free loopback port: Debian's `docker-registry` (distribution 2.8) or
 * distribution 3.x, trusting the token signer through `rootcertbundle` or (3.x)
 * a `jwks` file. Waits until `GET /v2/` answers 401 with a
 * `Bearer realm="<realm>"` challenge.
 *
 * The config is written as JSON (YAML accepts it), and `REGISTRY_*` and
 * `OTEL_*` variables are removed from the child's environment so they cannot
 * override it (3.x exports traces unless told not to).
 *
 * @throws Error when the registry exits or does not answer in time, with its log.
 *
 * @example
 * const registry = await startRegistry({ dir, realm, service: "registry.test",
 *   issuer: "regauth-e2e", rootCertBundlePath: signing.certificatePath });
 */
export async function startRegistry(options: RegistryOptions): Promise<RunningRegistry> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startOnce(options, await freePort(), attempt);
    } catch (error) {
      lastError = error;
      // Only a port taken between freePort() and the bind is worth another try.
      if (!(error instanceof Error) || !/address already in use/.test(error.message)) throw error;
    }
  }
  throw lastError;
}

async function startOnce(
  options: RegistryOptions,
  port: number,
  attempt: number,
): Promise<RunningRegistry> {
  const storage = join(options.dir, "storage");
  await mkdir(storage, { recursive: true });
  const host = `127.0.0.1:${port}`;
  const generation = options.generation ?? "2.8";
  const name = generation === "2.8" ? "docker-registry" : "registry 3.x";
  if ((options.rootCertBundlePath === undefined) === (options.jwksPath === undefined)) {
    throw new Error("startRegistry: give exactly one of rootCertBundlePath and jwksPath");
  }
  const trust =
    options.jwksPath === undefined
      ? { rootcertbundle: options.rootCertBundlePath }
      : { jwks: options.jwksPath };
  const config = {
    version: "0.1",
    log: { level: "info", formatter: "text", accesslog: { disabled: true } },
    http: { addr: host, secret: "regauth-e2e-not-a-secret" },
    storage: {
      filesystem: { rootdirectory: storage },
      delete: { enabled: options.deleteEnabled ?? false },
      maintenance: { uploadpurging: { enabled: false } },
    },
    auth: {
      token: { realm: options.realm, service: options.service, issuer: options.issuer, ...trust },
    },
  };
  const configPath = join(options.dir, `config-${attempt}.yml`);
  await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);

  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) => !key.startsWith("REGISTRY_") && !key.startsWith("OTEL_"),
    ),
  );
  env.OTEL_TRACES_EXPORTER = "none";
  const binary = peerPath(generation === "2.8" ? "docker-registry" : "registry");
  const child = spawn(binary, ["serve", configPath], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const chunks: string[] = [];
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => chunks.push(chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => chunks.push(chunk));
  const exited = new Promise<string>((resolve) => {
    child.once("exit", (code, signal) => resolve(`exited with ${code ?? signal}`));
    child.once("error", (error) => resolve(`could not start: ${error.message}`));
  });
  let exitReason: string | undefined;
  void exited.then((reason) => {
    exitReason = reason;
  });

  const log = () => chunks.join("");
  const logTail = (lines = 40) => tail(log(), lines);
  const url = `http://${host}`;
  const registry: RunningRegistry = {
    url,
    host,
    port,
    log,
    logTail,
    stop: () => stopChild(child, exited),
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
  let lastProblem = "no answer yet";
  while (Date.now() < deadline) {
    if (exitReason !== undefined) {
      throw new Error(`${name} ${exitReason} before answering\n${logTail()}`);
    }
    try {
      const response = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      const challenge = response.headers.get("www-authenticate") ?? "";
      if (response.status === 401 && challenge.startsWith(`Bearer realm="${options.realm}"`)) {
        return registry;
      }
      lastProblem = `GET /v2/ answered ${response.status} with WWW-Authenticate ${JSON.stringify(challenge)}`;
      break; // it answers, but not as configured: waiting will not help
    } catch (error) {
      lastProblem = error instanceof Error ? error.message : String(error);
    }
    await sleep(100);
  }
  await registry.stop();
  throw new Error(`${name} did not come up on ${host}: ${lastProblem}\n${logTail()}`);
}

async function stopChild(child: ChildProcess, exited: Promise<string>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  child.kill("SIGTERM");
  const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(killer);
}

/** The last `lines` lines of `text`, headed so it reads well inside an error message. */
export function tail(text: string, lines: number): string {
  const all = text.trimEnd().split("\n");
  const shown = all.slice(-lines).join("\n");
  return `--- last ${Math.min(lines, all.length)} of ${all.length} lines ---\n${shown}`;
}
