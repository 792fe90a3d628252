import { defineConfig } from "vitest/config";

// Tests run from source: the `regauth:source` export condition points every
// @regauth/* import at `src/*.ts`, so no build stands between an edit and a test.
const resolve = { conditions: ["regauth:source"] };

export default defineConfig({
  resolve,
  test: {
    projects: [
      {
        resolve,
        test: {
          name: "unit",
          include: ["packages/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts"],
          testTimeout: 20_000,
        },
      },
      {
        resolve,
        test: {
          name: "e2e",
          include: ["test/**/*.test.ts"],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
