/**
 * `fenix`: the command line for admins and VNFM developers (docs/cli.md).
 *   npx fenix <command> …   or   npm run --silent fenix -- <command> …
 */
import type { Io } from './context.js';
import { run } from './main.js';

const interrupted = new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
const io: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  isTTY: Boolean(process.stdout.isTTY),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  interrupted,
};

const code = await run(process.argv.slice(2), io);
// Let stdout drain when piped, then leave (a pending SIGINT listener must not keep the process alive).
process.stdout.write('', () => process.exit(code));
