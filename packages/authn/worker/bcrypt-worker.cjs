"use strict";
// Worker thread of the bcrypt pool (src/internal/bcrypt-pool.ts), run by
// piscina. Plain CommonJS on purpose: a bare Node worker loads it as it is,
// whether the pool runs from src/*.ts (tests) or from the built dist/.

const { readlinkSync } = require("node:fs");
const { getPriority, setPriority } = require("node:os");
const { workerData } = require("node:worker_threads");
const { verifySync } = require("@node-rs/bcrypt");

/** Nice increment used when the pool passes none (or an invalid one). */
const DEFAULT_NICE_INCREMENT = 10;

/**
 * Lowers the scheduling priority of the calling thread, and of no other, by
 * `increment` nice steps (capped at 19, the lowest priority). Linux only: there
 * `setpriority` on a thread id reaches that one thread, found through
 * `/proc/thread-self` (a link to `PID/task/TID`). Elsewhere, or when anything
 * fails (no /proc, refused), the thread keeps the priority it was started
 * with. Never throws.
 *
 * @param {number} increment Nice steps, 1 to 39.
 * @returns {boolean} Whether the priority was changed.
 */
function lowerThreadPriority(increment) {
  if (process.platform !== "linux") return false;
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (!Number.isSafeInteger(tid) || tid <= 0) return false;
    const current = getPriority(tid);
    const lowered = Math.min(19, current + increment);
    if (lowered <= current) return false;
    setPriority(tid, lowered);
    return true;
  } catch {
    return false;
  }
}

const increment = workerData?.niceIncrement;
lowerThreadPriority(
  Number.isInteger(increment) && increment > 0 && increment < 40
    ? increment
    : DEFAULT_NICE_INCREMENT,
);

/**
 * The task piscina runs: one bcrypt verification, synchronous, on this thread.
 *
 * @param {{ password: string, hash: string }} task The password and the bcrypt hash.
 * @returns {boolean} Whether the password matches; `false` for a malformed hash.
 * @throws Error `InvalidArg` when `password` or `hash` is not a string (the pool rejects).
 */
module.exports = function verifyBcrypt({ password, hash }) {
  return verifySync(password, hash);
};
