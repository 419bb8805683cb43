import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Absolute path of the repository root, derived from this module's location
 * so that `cdk synth`, vitest and scripts resolve the same files whatever
 * their working directory is.
 */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Resolves a repo-relative path such as `functions/api/get-session.ts`. */
export const repoPath = (...segments: string[]): string => path.resolve(REPO_ROOT, ...segments);
