import { defineConfig } from 'vitest/config';

/** What every suite shares (vitest.openstack.config.ts too). */
export const common = {
  // Each file runs in its own process: the local runtime sets process-wide AWS_ENDPOINT_URL_*.
  pool: 'forks' as const,
  env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', POWERTOOLS_LOG_LEVEL: 'ERROR' },
};

export default defineConfig({
  test: {
    ...common,
    include: ['test/**/*.test.ts'],
    // The suites that need the local OpenStack run with `npm run test:openstack` (vitest.openstack.config.ts).
    exclude: ['test/openstack/**', '**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
