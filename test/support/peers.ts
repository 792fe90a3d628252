import { accessSync, constants } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (the folder holding `scripts/install-peers`). */
export const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/** Where `scripts/install-peers` puts the tools it builds (`go install`); searched after PATH. */
export const cacheBin = join(repoRoot, ".cache", "bin");

/** Whether this run is CI (`CI` set and not `"false"`/`"0"`): missing peers then fail, never skip. */
export const inCi = (() => {
  const value = process.env.CI;
  return value !== undefined && value !== "" && value !== "false" && value !== "0";
})();

/** Returns the absolute path of the executable `name` on PATH or in `.cache/bin`, or `undefined`. */
export function findPeer(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter((dir) => dir !== ""), cacheBin];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The outcome of {@link checkPeers}. */
export interface PeerCheck {
  /** `true` when every peer was found. */
  readonly ok: boolean;
  /** The absolute path of every peer found, by name. */
  readonly paths: Readonly<Record<string, string>>;
  /** The names not found. */
  readonly missing: readonly string[];
  /** Why the suite is skipped (empty when `ok`). */
  readonly reason: string;
}

/**
 * Looks up the programs a suite needs. In CI a missing one throws at once (an
 * e2e suite must run there, never skip); elsewhere the result says what is
 * missing so the suite can `describe.skipIf(!check.ok)` and a warning is printed.
 *
 * @throws Error in CI when a peer is missing, naming it and `scripts/install-peers`.
 *
 * @example
 * const peers = checkPeers("docker-registry", "skopeo", "openssl");
 * describe.skipIf(!peers.ok)("registry + skopeo", () => { ... });
 */
export function checkPeers(...names: string[]): PeerCheck {
  const paths: Record<string, string> = {};
  const missing: string[] = [];
  for (const name of names) {
    const path = findPeer(name);
    if (path === undefined) missing.push(name);
    else paths[name] = path;
  }
  if (missing.length === 0) return { ok: true, paths, missing, reason: "" };
  const reason = `missing test peer(s): ${missing.join(", ")}; run scripts/install-peers`;
  if (inCi) throw new Error(`${reason} (CI is set: e2e suites must run, not skip)`);
  console.warn(`SKIPPED: ${reason}`);
  return { ok: false, paths, missing, reason };
}

/**
 * Returns the absolute path of the peer `name`, for spawning it.
 *
 * @throws Error when it is not installed.
 */
export function peerPath(name: string): string {
  const path = findPeer(name);
  if (path === undefined) throw new Error(`${name} not found on PATH nor in ${cacheBin}`);
  return path;
}
