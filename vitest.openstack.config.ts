import { defineConfig } from 'vitest/config';
import { common } from './vitest.config.js';

/**
 * `npm run test:openstack`: the suites that run against the real Nova of `npm run openstack:up`.
 * One file at a time: they share one cloud, and each starts from it empty.
 */
export default defineConfig({
  test: {
    ...common,
    include: ['test/openstack/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
