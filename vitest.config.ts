import { defineConfig } from 'vitest/config'

// Three suites: unit tests beside the code, integration tests (real relay, real chain, Node peers)
// and browser end-to-end tests (headless Chromium in a private network namespace, see
// scripts/netns.ts). `npm test` runs them in that order through scripts/test.ts.
export default defineConfig({
  test: {
    setupFiles: ['./lib/env/polyfills-node.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: [
            'lib/**/*.test.ts',
            'relay/**/*.test.ts',
            'scripts/**/*.test.ts',
            'cli/**/*.test.ts',
          ],
          testTimeout: 20_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
})
