import { defineConfig } from "vitest/config";

// Tests run from source: the `regauth:source` export condition points every
// @regauth/* import at `src/*.ts`, so no build stands between an edit and a test.
const resolve = { conditions: ["regauth:source"] };
// Tests run in Vite's SSR environment, which reads its own conditions (Vite 6+):
// without this, a package importing another (@regauth/authn -> @regauth/core)
// looks for dist/ and fails. The other entries are Vite's server defaults.
const ssr = {
  resolve: { conditions: ["regauth:source", "module", "node", "development|production"] },
};

export default defineConfig({
  resolve,
  ssr,
  test: {
    projects: [
      {
        resolve,
        ssr,
        test: {
          name: "unit",
          include: ["packages/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts"],
          testTimeout: 20_000,
        },
      },
      {
        resolve,
        ssr,
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
