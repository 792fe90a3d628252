import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Cleanup } from "./cleanup.js";
import { repoRoot } from "./peers.js";

/** The `regauth` command's entry point, run from source. */
export const REGAUTH_MAIN = join(repoRoot, "packages/server/src/cli/main.ts");

const NODE_ARGS = ["--conditions=regauth:source", "--import", "tsx", REGAUTH_MAIN];

/** A `regauth serve CONFIG` process. */
export interface RegauthServe {
  readonly process: ChildProcess;
  /** Everything it printed (stdout and stderr). */
  log(): string;
}

/**
 * Starts `regauth serve CONFIG` from source as a child process, with `env`
 * added to this process's environment, and waits until it prints that it
 * listens. SIGTERM stops it at `cleanup`.
 *
 * @throws Error when it exits or does not listen within `startTimeoutMs`
 *   (default 30 000), with what it printed.
 */
export async function startRegauthServe(options: {
  readonly cleanup: Cleanup;
  readonly configPath: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly startTimeoutMs?: number;
}): Promise<RegauthServe> {
  let output = "";
  const child = spawn(process.execPath, [...NODE_ARGS, "serve", options.configPath], {
    cwd: repoRoot,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  options.cleanup.defer(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
  });
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  while (!output.includes("listening on")) {
    if (Date.now() > deadline || child.exitCode !== null) {
      throw new Error(`regauth serve did not start:\n${output}`);
    }
    await sleep(50);
  }
  return { process: child, log: () => output };
}

/** Runs `regauth ARGS` from source to completion: its exit code and output. */
export function runRegauth(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...NODE_ARGS, ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}
