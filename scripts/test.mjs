// `npm test`: Biome, the lockfile, type check, the vitest suites (unit, integration, e2e, infra), and an offline
// `cdk synth`. Ends with one line "N passed, N failed" (CI reads it) counting every test and check.
// `npm run test:openstack` (`--openstack`): only the suites against the local OpenStack, same closing line.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';

const run = (label, command, args, env = {}) => {
  const started = Date.now();
  console.log(`\n▶ ${label}`);
  const result = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  console.log(`${result.status === 0 ? '✔' : '✘'} ${label} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return result.status === 0;
};

const openstack = process.argv.includes('--openstack');
const report = '.vitest-report.json';
rmSync(report, { force: true });
if (openstack && !existsSync('.openstack/clouds.yaml')) {
  console.error(
    'test:openstack needs the local OpenStack: run `npm run openstack:up` first (it prints "OpenStack ready")',
  );
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const checks = openstack
  ? []
  : [
      run('lint and format (biome)', 'npx', ['biome', 'check', '--error-on-warnings', '.']),
      run('lockfile matches package.json', 'node', ['scripts/check-lockfile.mjs']),
      run('type check (tsc)', 'npx', ['tsc', '-p', '.']),
      run('cdk synth (offline, no credentials)', 'npx', ['cdk', 'synth', '-q', '--no-notices'], {
        CDK_DISABLE_CLI_TELEMETRY: 'true',
        AWS_ACCESS_KEY_ID: '',
        AWS_SECRET_ACCESS_KEY: '',
      }),
    ];
const extra = process.argv.slice(2).filter((arg) => arg !== '--openstack');
const vitestOk = run('vitest', 'npx', [
  'vitest',
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${report}`,
  ...(openstack ? ['--config', 'vitest.openstack.config.ts'] : []),
  ...extra,
]);

let passed = checks.filter(Boolean).length;
let failed = checks.length - passed;
if (existsSync(report)) {
  const results = JSON.parse(readFileSync(report, 'utf8'));
  passed += results.numPassedTests;
  failed += results.numFailedTests;
  // A suite that failed to load has no failed tests of its own: count it, or CI would miss it.
  failed += results.testResults.filter((file) => file.status === 'failed' && file.assertionResults.length === 0).length;
} else {
  failed += 1;
}
if (!vitestOk && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
