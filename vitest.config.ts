import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // e2e and integration tests start real Consul and Envoy processes: run files one at a time on 2 cores.
    fileParallelism: false,
    pool: 'forks',
  },
});
