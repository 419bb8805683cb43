import type { ParsedArgs } from './args.js';
import type { Api } from './http.js';

/** What a command gets: the parsed arguments, the API, and where its output goes. */
export interface Context {
  args: ParsedArgs;
  api: Api;
  /** `--json`: machine-readable output on stdout. */
  json: boolean;
  io: Io;
}

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  /** stdout is a terminal: the live view redraws in place. */
  isTTY: boolean;
  sleep: (ms: number) => Promise<void>;
  /** Resolves when the user interrupts (Ctrl-C); never in tests. */
  interrupted?: Promise<void>;
}

export const printJson = (io: Io, value: unknown): void => io.stdout(`${JSON.stringify(value, null, 2)}\n`);
