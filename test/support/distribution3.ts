import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { peerPath } from "./peers.js";
import { freePort } from "./ports.js";
import { type RunningRegistry, tail } from "./registry.js";

/** Which registry generation to run and how it trusts the token signer. */
export type RegistryFlavor =
  | { readonly kind: "2.8" | "3.x"; readonly rootCertBundlePath: string }
  | { readonly kind: "3.x"; readonly jwksPath: string };

/** Options of {@link startAnyRegistry}. */
export interface AnyRegistryOptions {
  /** A fresh directory for the config and the storage; the caller removes it. */
  readonly dir: string;
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  readonly flavor: RegistryFlavor;
}

/**
 * Starts a registry with token auth on a free loopback port: Debian's
 * `docker-registry` (distribution 2.8) or distribution 3.x (`registry`,
 * `go install`ed by scripts/install-peers into .cache/bin), trusting the token
 * signer through `rootcertbundle` or (3.x only) a `jwks` file. Waits until
 * `GET /v2/` answers 401 with the `Bearer realm` challenge.
 *
 * @throws Error when it exits or does not answer in 20 s, with its log.
 */
export async function startAnyRegistry(options: AnyRegistryOptions): Promise<RunningRegistry> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startOnce(options, await freePort(), attempt);
    } catch (error) {
      lastError = error;
      if (!(error instanceof Error) || !/address already in use/.test(error.message)) throw error;
    }
  }
  throw lastError;
}

async function startOnce(
  options: AnyRegistryOptions,
  port: number,
  attempt: number,
): Promise<RunningRegistry> {
  const storage = join(options.dir, "storage");
  await mkdir(storage, { recursive: true });
  const host = `127.0.0.1:${port}`;
  const { flavor } = options;
  const trust =
    "jwksPath" in flavor
      ? { jwks: flavor.jwksPath }
      : { rootcertbundle: flavor.rootCertBundlePath };
  const config = {
    version: "0.1",
    log: { level: "info", formatter: "text", accesslog: { disabled: true } },
    http: { addr: host, secret: "regauth-e2e-not-a-secret" },
    storage: {
      filesystem: { rootdirectory: storage },
      delete: { enabled: true },
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
  // distribution 3 exports traces unless told not to.
  env.OTEL_TRACES_EXPORTER = "none";
  const binary = peerPath(flavor.kind === "2.8" ? "docker-registry" : "registry");
  const child = spawn(binary, ["serve", configPath], { env, stdio: ["ignore", "pipe", "pipe"] });
  const chunks: string[] = [];
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => chunks.push(chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => chunks.push(chunk));
  let exitReason: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exitReason = `exited with ${code ?? signal}`;
      resolve();
    });
    child.once("error", (error) => {
      exitReason = `could not start: ${error.message}`;
      resolve();
    });
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
  const deadline = Date.now() + 20_000;
  let lastProblem = "no answer yet";
  while (Date.now() < deadline) {
    if (exitReason !== undefined) {
      throw new Error(`registry ${flavor.kind} ${exitReason} before answering\n${logTail()}`);
    }
    try {
      const response = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      const challenge = response.headers.get("www-authenticate") ?? "";
      if (response.status === 401 && challenge.startsWith(`Bearer realm="${options.realm}"`)) {
        return registry;
      }
      lastProblem = `GET /v2/ answered ${response.status} with ${JSON.stringify(challenge)}`;
      break;
    } catch (error) {
      lastProblem = error instanceof Error ? error.message : String(error);
    }
    await sleep(100);
  }
  await registry.stop();
  throw new Error(
    `registry ${flavor.kind} did not come up on ${host}: ${lastProblem}\n${logTail()}`,
  );
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  child.kill("SIGTERM");
  const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(killer);
}
