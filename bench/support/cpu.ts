// How much of the machine's CPU other processes took while the bench ran:
// figures taken on a busy machine are low and noisy, so the bench says so.
// Linux only (/proc); elsewhere it reports nothing.
import { readdirSync, readFileSync } from "node:fs";

/**
 * CPU time of the whole machine, in clock ticks (all cores): `busy` what
 * processes ran (user, nice, system), `total` everything.
 */
function machineTicks(): { busy: number; total: number } {
  const fields = (readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "")
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .map(Number);
  const total = fields.reduce((sum, value) => sum + value, 0);
  const busy = (fields[0] ?? 0) + (fields[1] ?? 0) + (fields[2] ?? 0);
  return { busy, total };
}

/** CPU ticks (user + system, all threads) of `root` and every process below it. */
function treeTicks(root: number): number {
  const parents = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parents.set(Number(name), Number(rest[1]));
      ticks.set(Number(name), Number(rest[11]) + Number(rest[12]));
    } catch {
      // the process ended while we looked
    }
  }
  let sum = 0;
  for (const [pid, value] of ticks) {
    for (let at: number | undefined = pid; at !== undefined && at > 1; at = parents.get(at)) {
      if (at === root) {
        sum += value;
        break;
      }
    }
  }
  return sum;
}

/**
 * Starts watching; `stop()` returns the share of the machine's CPU time
 * (all cores) that processes outside this one's tree used meanwhile, 0 to 1,
 * or `undefined` where /proc cannot be read.
 */
export function watchOtherCpu(): { stop(): number | undefined } {
  try {
    const machine = machineTicks();
    const ours = treeTicks(process.pid);
    return {
      stop() {
        try {
          const after = machineTicks();
          const total = after.total - machine.total;
          const others = after.busy - machine.busy - (treeTicks(process.pid) - ours);
          return total > 0 ? Math.max(0, others / total) : undefined;
        } catch {
          return undefined;
        }
      },
    };
  } catch {
    return { stop: () => undefined };
  }
}
