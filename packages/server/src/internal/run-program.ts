import { spawn } from "node:child_process";
import { RegauthError } from "@regauth/core";

/** How one run of an external program ended. */
export interface ProgramResult {
  /** The exit code; `null` when a signal ended the program. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Standard output, complete (never more than the limit, else the run fails). */
  readonly stdout: string;
  /** The first `maxOutputBytes` of standard error. */
  readonly stderr: string;
  /** True when standard error was longer than what `stderr` holds. */
  readonly stderrTruncated: boolean;
}

/** What {@link ProgramRunner.run} needs. */
export interface ProgramSpec {
  readonly command: string;
  readonly args: readonly string[];
  readonly input: string;
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  readonly env: NodeJS.ProcessEnv | undefined;
  /** `ext_auth`, `ext_authz`: starts every error message. */
  readonly label: string;
}

/** Runs external programs, at most `maxConcurrent` at once. */
export interface ProgramRunner {
  run(spec: ProgramSpec): Promise<ProgramResult>;
}

/**
 * A counting semaphore with a bounded queue: at most `limit` holders, at most
 * `queueLimit` waiters; beyond that `acquire` fails at once.
 */
class Semaphore {
  #active = 0;
  readonly #waiters: Array<() => void> = [];
  constructor(
    readonly limit: number,
    readonly queueLimit: number,
  ) {}

  acquire(): Promise<void> | false {
    if (this.#active < this.limit) {
      this.#active++;
      return Promise.resolve();
    }
    if (this.#waiters.length >= this.queueLimit) return false;
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#active--;
  }
}

/**
 * Makes a runner of external programs (docker_auth's `ext_auth`/`ext_authz`):
 * spawned without a shell in their own process group, `input` written to
 * stdin, killed (the whole group, SIGKILL) after `timeoutMs` or when stdout
 * passes `maxOutputBytes`; stderr beyond `maxOutputBytes` is dropped.
 * At most `maxConcurrent` programs run at once; up to `4 * maxConcurrent`
 * more wait their turn, and a run beyond that fails with `ERR_OVERLOADED`.
 *
 * Failures reject with `ERR_BACKEND_UNAVAILABLE` (cannot start, timed out,
 * too much output) or `ERR_OVERLOADED`; the program's own exit code is the
 * caller's to judge.
 */
export function createProgramRunner(maxConcurrent: number): ProgramRunner {
  const slots = new Semaphore(maxConcurrent, maxConcurrent * 4);
  return {
    async run(spec) {
      const acquired = slots.acquire();
      if (acquired === false) {
        throw new RegauthError(
          "ERR_OVERLOADED",
          `${spec.label}: too many programs running or waiting (at most ${maxConcurrent} run at once)`,
        );
      }
      await acquired;
      try {
        return await runOnce(spec);
      } finally {
        slots.release();
      }
    },
  };
}

function runOnce(spec: ProgramSpec): Promise<ProgramResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(spec.command, [...spec.args], {
      stdio: ["pipe", "pipe", "pipe"],
      env: spec.env ?? process.env,
      // Its own process group, so a timeout kills what it started as well.
      detached: true,
      shell: false,
      windowsHide: true,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrBytes = 0;
    let stderrTruncated = false;
    let settled = false;

    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    const fail = (message: string, cause?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      killGroup();
      reject(
        new RegauthError(
          "ERR_BACKEND_UNAVAILABLE",
          `${spec.label}: ${message}`,
          cause === undefined ? undefined : { cause },
        ),
      );
    };
    const timer = setTimeout(
      () => fail(`program timed out after ${spec.timeoutMs} ms and was killed`),
      spec.timeoutMs,
    );

    child.once("error", (error: NodeJS.ErrnoException) => {
      fail(`cannot run ${spec.command}: ${error.code ?? error.message}`, error);
    });
    child.stdout.on("data", (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > spec.maxOutputBytes) {
        fail(`program printed more than ${spec.maxOutputBytes} bytes on stdout and was killed`);
        return;
      }
      stdout.push(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      const room = spec.maxOutputBytes - stderrBytes;
      if (room <= 0) {
        stderrTruncated = true;
        return;
      }
      stderr.push(room < chunk.length ? chunk.subarray(0, room) : chunk);
      if (room < chunk.length) stderrTruncated = true;
      stderrBytes += Math.min(room, chunk.length);
    });
    // A program may exit without reading its input: EPIPE is not our failure.
    child.stdin.on("error", () => {});
    child.stdin.end(spec.input);

    child.once("close", (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
        stderrTruncated,
      });
    });
  });
}
