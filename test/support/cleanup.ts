import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A stack of clean-up steps, run in reverse order by {@link Cleanup.run}. Every
 * step runs even when an earlier one fails; the failures are thrown together.
 *
 * @example
 * const cleanup = new Cleanup();
 * afterAll(() => cleanup.run());
 * const dir = await cleanup.tempDir("registry-");
 */
export class Cleanup {
  readonly #steps: Array<() => Promise<void> | void> = [];

  /** Registers `step` to run at {@link Cleanup.run}, before the steps registered earlier. */
  defer(step: () => Promise<void> | void): void {
    this.#steps.push(step);
  }

  /**
   * Makes a fresh directory under the OS temp dir (`regauth-e2e-<prefix>XXXXXX`),
   * removed at {@link Cleanup.run} unless `REGAUTH_E2E_KEEP_TMP=1` is set (then its
   * path is printed, for debugging). Returns its absolute path.
   */
  async tempDir(prefix: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), `regauth-e2e-${prefix}`));
    this.defer(async () => {
      if (process.env.REGAUTH_E2E_KEEP_TMP === "1") {
        console.info(`kept ${dir}`);
        return;
      }
      await rm(dir, { recursive: true, force: true });
    });
    return dir;
  }

  /** Runs the registered steps, last first, and forgets them. */
  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (let step = this.#steps.pop(); step !== undefined; step = this.#steps.pop()) {
      try {
        await step();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, "several clean-up steps failed");
  }
}
