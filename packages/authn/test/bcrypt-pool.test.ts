import { execFile } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { verify } from "@node-rs/bcrypt";
import { beforeAll, describe, expect, it } from "vitest";
import { hashPassword } from "../src/hash-password.js";
import {
  BCRYPT_IDLE_TIMEOUT_MS,
  BCRYPT_NICE_INCREMENT,
  verifyPassword,
} from "../src/internal/bcrypt-pool.js";

const onLinux = process.platform === "linux";

/** One thread of this process as /proc shows it: id, nice, CPU used (clock ticks). */
interface ThreadStat {
  readonly tid: number;
  readonly nice: number;
  readonly cpuTicks: number;
}

/**
 * The threads of this process, from /proc/self/task/TID/stat. Field 2 (comm)
 * is in parentheses and may hold spaces, so fields are counted after the last
 * `)`: there field 3 (state) is index 0, utime (14) 11, stime (15) 12, nice (19) 16.
 */
function threadStats(): ThreadStat[] {
  const stats: ThreadStat[] = [];
  for (const tid of readdirSync("/proc/self/task")) {
    let line: string;
    try {
      line = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    } catch {
      continue; // the thread ended in between
    }
    const fields = line.slice(line.lastIndexOf(")") + 2).split(" ");
    stats.push({
      tid: Number(tid),
      nice: Number(fields[16]),
      cpuTicks: Number(fields[11]) + Number(fields[12]),
    });
  }
  return stats;
}

/**
 * Runs `body` as an ES module in a new Node process (through tsx, from the
 * repository root), after `verifyPassword` and `createRequire` are imported.
 * Resolves its trimmed stdout and how long it took (ms); rejects when it fails
 * or runs past 15 s.
 */
async function runScript(body: string): Promise<{ stdout: string; elapsedMs: number }> {
  const pool = fileURLToPath(new URL("../src/internal/bcrypt-pool.ts", import.meta.url));
  const dir = await mkdtemp(join(tmpdir(), "bcrypt-pool-"));
  const file = join(dir, "script.mjs");
  await writeFile(
    file,
    `import { createRequire } from "node:module";\n` +
      `import { verifyPassword } from ${JSON.stringify(pool)};\n${body}`,
  );
  const started = performance.now();
  try {
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ["--import", "tsx", file],
        { cwd: fileURLToPath(new URL("../../..", import.meta.url)), timeout: 15_000 },
        (error, out, err) =>
          error
            ? reject(new Error(`${error.message}\nexit code ${error.code}\n${err}`))
            : resolve(out),
      );
    });
    return { stdout: stdout.trim(), elapsedMs: performance.now() - started };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The stat of one thread, which must exist. */
function threadStat(tid: number): ThreadStat {
  const stat = threadStats().find((s) => s.tid === tid);
  if (stat === undefined) throw new Error(`no thread ${tid} in /proc/self/task`);
  return stat;
}

/** The id of the thread running this test (and its event loop): PID/task/TID. */
function ownTid(): number {
  return Number(readlinkSync("/proc/thread-self").split("/").pop());
}

// Hashes of "secret" made by another bcrypt (libxcrypt crypt(3), the one behind
// htpasswd on Linux), the same vectors as the static authenticator's tests.
const LIBXCRYPT_2Y = "$2y$05$.U.Gq02rtzD9ZSTW29lkke58dmJXq/Z7JFauAtUinZ1ez8i2NcIze";
const LIBXCRYPT_2A = "$2a$05$r5Jf7VjX9YndONLaQLElK.bN4HGsKSxTmhT0LWBBmzQo1A36CEO1O";

let cost4: string;
let slowHash: string;

beforeAll(async () => {
  [cost4, slowHash] = await Promise.all([hashPassword("alice-pw", 4), hashPassword("slow-pw", 11)]);
});

describe("verifyPassword", () => {
  it("verifies the right password and refuses a wrong one", async () => {
    expect(await verifyPassword("alice-pw", cost4)).toBe(true);
    expect(await verifyPassword("alice-pW", cost4)).toBe(false);
    expect(await verifyPassword("", cost4)).toBe(false);
  });

  it.each([
    ["$2y$", LIBXCRYPT_2Y],
    ["$2a$", LIBXCRYPT_2A],
  ])("verifies a %s hash made by libxcrypt", async (_prefix, hash) => {
    expect(await verifyPassword("secret", hash)).toBe(true);
    expect(await verifyPassword("Secret", hash)).toBe(false);
  });

  it("answers many verifications at once, each with its own result", async () => {
    const passwords = Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? "alice-pw" : `x${i}`));
    const results = await Promise.all(passwords.map((p) => verifyPassword(p, cost4)));
    expect(results).toEqual(passwords.map((p) => p === "alice-pw"));
  });

  it("answers false for a malformed hash, as @node-rs/bcrypt's verify does", async () => {
    for (const hash of ["", "not-a-hash", "$2b$04$short", `$2b$99$${"a".repeat(53)}`]) {
      expect(await verify("secret", hash)).toBe(false);
      expect(await verifyPassword("secret", hash)).toBe(false);
    }
  });

  it("rejects when the worker throws, and keeps working afterwards", async () => {
    await expect(verifyPassword(null as unknown as string, cost4)).rejects.toThrow(
      /none of these types/,
    );
    await expect(verifyPassword("alice-pw", 42 as unknown as string)).rejects.toThrow(Error);
    expect(await verifyPassword("alice-pw", cost4)).toBe(true);
  });

  it("keeps the event loop free while verifications run", async () => {
    await verifyPassword("warm-up", cost4); // a thread is up: its start is not measured
    let started = performance.now();
    expect(await verifyPassword("slow-pw", slowHash)).toBe(true);
    const oneVerificationMs = performance.now() - started;

    const delay = monitorEventLoopDelay({ resolution: 5 });
    const before = onLinux ? threadStats() : [];
    delay.enable();
    // The monitor records from its second tick on: let it tick first.
    await new Promise((resolve) => setTimeout(resolve, 20));
    started = performance.now();
    const results = await Promise.all(
      ["slow-pw", "nope", "slow-pw", "nope"].map((p) => verifyPassword(p, slowHash)),
    );
    const elapsedMs = performance.now() - started;
    // Let the loop turn, so that a delay it had just suffered is recorded.
    await new Promise((resolve) => setTimeout(resolve, 20));
    delay.disable();
    expect(results).toEqual([true, false, true, false]);
    // A verification on this thread would hold the loop for a whole one.
    expect(delay.max / 1e6).toBeLessThan(oneVerificationMs / 2);
    expect(elapsedMs).toBeGreaterThan(oneVerificationMs);

    if (onLinux) {
      // Not a timing: CPU accounting. The work was done by other threads.
      const after = threadStats();
      const spent = (s: ThreadStat) =>
        s.cpuTicks - (before.find((b) => b.tid === s.tid)?.cpuTicks ?? 0);
      const total = after.reduce((sum, s) => sum + spent(s), 0);
      const own = spent(threadStat(ownTid()));
      expect(total).toBeGreaterThan(0);
      expect(own / total).toBeLessThan(0.25);
    }
  });

  it.runIf(onLinux)(
    "runs bcrypt on threads at nice +10, leaving the event loop's priority alone",
    async () => {
      const main = threadStat(process.pid).nice;
      const own = threadStat(ownTid()).nice;
      const lowered = Math.min(19, main + BCRYPT_NICE_INCREMENT);
      expect(BCRYPT_NICE_INCREMENT).toBe(10);

      await verifyPassword("warm-up", cost4);
      const before = threadStats();
      const inFlight = verifyPassword("slow-pw", slowHash);
      const during = threadStats();
      expect(await inFlight).toBe(true);
      const after = threadStats();

      const others = (s: ThreadStat) => s.tid !== process.pid && s.tid !== ownTid();
      expect(during.some((s) => others(s) && s.nice === lowered)).toBe(true);
      expect(threadStat(process.pid).nice).toBe(main);
      expect(threadStat(ownTid()).nice).toBe(own);
      // The verification's CPU went to the lowered threads.
      const spent = (s: ThreadStat) =>
        s.cpuTicks - (before.find((b) => b.tid === s.tid)?.cpuTicks ?? 0);
      const total = after.reduce((sum, s) => sum + spent(s), 0);
      const low = after.filter((s) => s.nice === lowered).reduce((sum, s) => sum + spent(s), 0);
      expect(total).toBeGreaterThan(0);
      expect(low / total).toBeGreaterThan(0.5);
    },
  );

  it("does not keep a process alive once verifications are done", async () => {
    const { stdout, elapsedMs } = await runScript(`
      console.log(await verifyPassword("alice-pw", ${JSON.stringify(cost4)}));
    `);
    expect(stdout).toBe("true");
    // An idle thread that held the process would hold it for the idle timeout.
    expect(elapsedMs).toBeLessThan(BCRYPT_IDLE_TIMEOUT_MS / 3);
  });

  it("rejects, instead of waiting for ever, when no thread can start; then recovers", async () => {
    // piscina looks Worker up on the module at each start: replace it with one
    // that fails while starting, as a thread that cannot load would.
    const { stdout, elapsedMs } = await runScript(`
      const threads = createRequire(import.meta.url)("node:worker_threads");
      const Original = threads.Worker;
      threads.Worker = class extends Original {
        constructor(_file, options) {
          super("throw new Error('no thread today')", { ...options, eval: true });
        }
      };
      const hash = ${JSON.stringify(cost4)};
      const outcomes = await Promise.allSettled([1, 2, 3].map(() => verifyPassword("alice-pw", hash)));
      for (const o of outcomes) console.log(o.status, o.reason?.message, o.reason?.cause?.message);
      threads.Worker = Original;
      console.log(await verifyPassword("alice-pw", hash));
    `);
    expect(stdout.split("\n")).toEqual([
      ...Array(3).fill("rejected bcrypt worker thread failed: no thread today no thread today"),
      "true",
    ]);
    expect(elapsedMs).toBeLessThan(BCRYPT_IDLE_TIMEOUT_MS / 3);
  });
});
