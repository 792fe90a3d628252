import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";

/**
 * How many steps of nice the pool's threads take below the thread that starts
 * them (the event loop): 10, so from nice 0 they run at nice 10 (capped at 19).
 * Linux only; elsewhere they keep normal priority.
 */
export const BCRYPT_NICE_INCREMENT = 10;

/** How long, in milliseconds, an idle thread of the pool lives before it exits: 30 s. */
export const BCRYPT_IDLE_TIMEOUT_MS = 30_000;

/** What the worker (worker/bcrypt-worker.cjs) takes. */
interface VerifyTask {
  readonly password: string;
  readonly hash: string;
}

type BcryptPool = Piscina<VerifyTask, boolean>;

// Same relative path from src/internal/*.ts (tests) and dist/internal/*.js (built).
const WORKER_FILE = fileURLToPath(new URL("../../worker/bcrypt-worker.cjs", import.meta.url));

let pool: BcryptPool | undefined;

/** Why a pool was taken out of service (see {@link createPool}). */
const failures = new WeakMap<BcryptPool, unknown>();

/**
 * A pool of up to one thread per available core (at low priority they take
 * only the CPU the event loop leaves), started on demand. A thread idle for
 * {@link BCRYPT_IDLE_TIMEOUT_MS} exits, and idle threads never keep the
 * process alive (piscina unrefs a thread with no task). Threads start without
 * the process's Node flags (`execArgv`).
 *
 * piscina reports a thread that fails with no task of its own (one that cannot
 * start, or dies while idle) as an `error` event only, and leaves the tasks
 * queued for it waiting for ever. So at such an event the pool is taken out of
 * service and destroyed, which rejects its tasks; the next call starts a new one.
 */
function createPool(): BcryptPool {
  const created: BcryptPool = new Piscina({
    filename: WORKER_FILE,
    minThreads: 0,
    maxThreads: availableParallelism(),
    idleTimeout: BCRYPT_IDLE_TIMEOUT_MS,
    workerData: { niceIncrement: BCRYPT_NICE_INCREMENT },
    // The worker is plain CommonJS: it needs none of the process's flags, and
    // some would break it or slow its start (`--import tsx`, `--input-type`).
    execArgv: [],
  });
  created.on("error", (error: unknown) => {
    if (pool === created) pool = undefined;
    if (!failures.has(created)) failures.set(created, error);
    created.destroy().catch(() => {});
  });
  return created;
}

/**
 * Checks `password` against a bcrypt `hash` (`$2a$`, `$2b$` or `$2y$`) in a
 * process-wide pool of worker threads that run at a lower priority than the
 * event loop (nice +{@link BCRYPT_NICE_INCREMENT}, so nice 10, on Linux): under
 * CPU contention the event loop wins and bcrypt takes the CPU left over. The
 * pool starts at the first call, not at import. While a verification is in
 * flight it holds the process open, as a libuv task would; idle, it holds
 * nothing (piscina refs a thread while it starts or runs a task). Only the
 * first 72 bytes of a password count.
 *
 * @param password The password to check (UTF-8).
 * @param hash The stored bcrypt hash.
 * @returns `true` when the password matches, `false` when it does not or when
 *   `hash` is not a well-formed bcrypt hash (as @node-rs/bcrypt's `verify`).
 * @throws Error (rejects) when the verification fails in the worker: an
 *   argument that is not a string (`Value is none of these types ...`), or a
 *   worker thread that cannot start or dies (`bcrypt worker thread failed: ...`,
 *   the thread's error as `cause`).
 */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  pool ??= createPool();
  const running = pool;
  try {
    return await running.run({ password, hash });
  } catch (error) {
    const failure = failures.get(running);
    if (failure === undefined) throw error;
    const reason = failure instanceof Error ? failure.message : String(failure);
    throw new Error(`bcrypt worker thread failed: ${reason}`, { cause: failure });
  }
}
