// Fails when package-lock.json is not what `npm install` would write for package.json: a newcomer's
// install would then leave a modified lockfile, and `npm ci` would install something nobody reviewed.
// npm recomputes the lockfile in a scratch folder (no node_modules, no scripts) and the two are compared.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const scratch = mkdtempSync(join(tmpdir(), 'fenix-lockfile-'));
try {
  for (const file of ['package.json', 'package-lock.json']) copyFileSync(file, join(scratch, file));
  const npm = spawnSync(
    'npm',
    ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'],
    { cwd: scratch, encoding: 'utf8' },
  );
  if (npm.status !== 0) {
    console.error(npm.stderr);
    process.exit(1);
  }
  const committed = readFileSync('package-lock.json', 'utf8');
  const rewritten = readFileSync(join(scratch, 'package-lock.json'), 'utf8');
  if (committed !== rewritten) {
    console.error(
      'package-lock.json differs from what `npm install` writes: run `npm install` and commit the lockfile.',
    );
    process.exit(1);
  }
  console.log('package-lock.json is what npm install writes');
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
