import { parseArgs } from 'node:util';

/**
 * Command-line parsing: one `parseArgs` over every option any command knows, then a check that the
 * command was given only its own options. Usage mistakes throw `UsageError` (exit code 2).
 */

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const OPTIONS = {
  // global
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  // session create / continue
  host: { type: 'string', multiple: true },
  at: { type: 'string' },
  workflow: { type: 'string' },
  metadata: { type: 'string' },
  action: { type: 'string', multiple: true },
  'idempotency-key': { type: 'string' },
  policy: { type: 'string' },
  'on-no-reply': { type: 'string' },
  'default-action': { type: 'string' },
  download: { type: 'string', multiple: true },
  parallel: { type: 'string' },
  'max-failed': { type: 'string' },
  state: { type: 'string' },
  // session watch
  interval: { type: 'string' },
  // project reply
  ack: { type: 'boolean' },
  nack: { type: 'boolean' },
  // token
  admin: { type: 'boolean' },
  project: { type: 'string' },
  ttl: { type: 'string' },
  // constraints put (the body's fields, kebab-case)
  'json-body': { type: 'string' },
  'group-id': { type: 'string' },
  'instance-name': { type: 'string' },
  'max-interruption-time': { type: 'string' },
  'migration-type': { type: 'string' },
  'lead-time': { type: 'string' },
  'resource-mitigation': { type: 'boolean' },
  'group-name': { type: 'string' },
  'anti-affinity-group': { type: 'boolean' },
  'max-instances-per-host': { type: 'string' },
  'max-impacted-members': { type: 'string' },
  'recovery-time': { type: 'string' },
} as const;

export type OptionName = keyof typeof OPTIONS;
export const GLOBAL_OPTIONS: OptionName[] = ['url', 'token', 'json', 'help'];

export interface ParsedArgs {
  positionals: string[];
  values: {
    url?: string;
    token?: string;
    json?: boolean;
    help?: boolean;
    host?: string[];
    at?: string;
    workflow?: string;
    metadata?: string;
    action?: string[];
    'idempotency-key'?: string;
    policy?: string;
    'on-no-reply'?: string;
    'default-action'?: string;
    download?: string[];
    parallel?: string;
    'max-failed'?: string;
    state?: string;
    interval?: string;
    ack?: boolean;
    nack?: boolean;
    admin?: boolean;
    project?: string;
    ttl?: string;
    'json-body'?: string;
    'group-id'?: string;
    'instance-name'?: string;
    'max-interruption-time'?: string;
    'migration-type'?: string;
    'lead-time'?: string;
    'resource-mitigation'?: boolean;
    'group-name'?: string;
    'anti-affinity-group'?: boolean;
    'max-instances-per-host'?: string;
    'max-impacted-members'?: string;
    'recovery-time'?: string;
  };
  /** The options actually given, by name. */
  given: Set<OptionName>;
}

const parseStrict = (argv: string[]) => {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true, tokens: true });
  } catch (error) {
    // node's messages are long and mention "strict:false"; keep the first sentence.
    const message = error instanceof Error ? error.message : String(error);
    throw new UsageError(message.split('. ')[0]?.replace(/^Unknown option '(.*)'$/, 'unknown option $1') ?? message);
  }
};

export const parse = (argv: string[]): ParsedArgs => {
  const parsed = parseStrict(argv);
  const given = new Set(
    parsed.tokens.filter((token) => token.kind === 'option').map((token) => token.name as OptionName),
  );
  return { positionals: parsed.positionals, values: parsed.values as ParsedArgs['values'], given };
};

/** Refuses options the command does not take. */
export const allowOnly = (args: ParsedArgs, command: string, allowed: OptionName[]): void => {
  for (const name of args.given) {
    if (!GLOBAL_OPTIONS.includes(name) && !allowed.includes(name))
      throw new UsageError(`${command} takes no --${name}`);
  }
};

/** Exactly `count` positional arguments after the command words. */
export const operands = (args: ParsedArgs, words: number, names: string[], command: string): string[] => {
  const rest = args.positionals.slice(words);
  if (rest.length !== names.length) {
    const expected = names.map((name) => `<${name}>`).join(' ');
    throw new UsageError(
      rest.length < names.length
        ? `${command} needs ${expected}`
        : `${command}: unexpected argument ${rest[names.length]}`,
    );
  }
  return rest;
};

const fenixTime = (date: Date) => date.toISOString().slice(0, 19).replace('T', ' ');

/**
 * `--at`: `now`, a relative `+90s` / `+5m` / `+2h`, or an absolute time (passed on as given; the API
 * accepts "YYYY-MM-DD HH:MM:SS" in UTC and ISO 8601, and says so when it is neither).
 */
export const parseAt = (text: string, now: Date = new Date()): string => {
  if (text === 'now') return fenixTime(now);
  const relative = /^\+(\d+)([smh]?)$/.exec(text);
  if (relative) {
    const [, amount, suffix] = relative;
    const unit = suffix === 'h' ? 3600 : suffix === 'm' ? 60 : 1;
    return fenixTime(new Date(now.getTime() + Number(amount) * unit * 1000));
  }
  return text;
};

export const parseJsonObject = (text: string, option: string): Record<string, unknown> => {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(`--${option} must be a JSON object, e.g. '{"key": "value"}'`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new UsageError(`--${option} must be a JSON object, not ${Array.isArray(value) ? 'an array' : typeof value}`);
  return value as Record<string, unknown>;
};

/** `--action plugin:type[:json-metadata]` of `session create`. */
export const parsePluginAction = (
  text: string,
): { plugin: string; type: string; metadata?: Record<string, unknown> } => {
  const first = text.indexOf(':');
  if (first <= 0) throw new UsageError(`--action ${text}: expected plugin:type[:json-metadata], e.g. dummy:compute`);
  const second = text.indexOf(':', first + 1);
  const plugin = text.slice(0, first);
  const type = second < 0 ? text.slice(first + 1) : text.slice(first + 1, second);
  if (!type) throw new UsageError(`--action ${text}: the type (pre, post, host, compute or controller) is missing`);
  if (second < 0) return { plugin, type };
  return { plugin, type, metadata: parseJsonObject(text.slice(second + 1), 'action metadata') };
};

/**
 * `--policy <json>`, then `--on-no-reply` / `--default-action` over it, of `session create`
 * (undefined when none is given: the API fills the defaults).
 */
export const policyOptions = (values: ParsedArgs['values']): Record<string, unknown> | undefined => {
  if (values.policy === undefined && values['on-no-reply'] === undefined && values['default-action'] === undefined)
    return undefined;
  return {
    ...(values.policy !== undefined ? parseJsonObject(values.policy, 'policy') : {}),
    ...(values['on-no-reply'] !== undefined ? { on_no_reply: values['on-no-reply'].toUpperCase() } : {}),
    ...(values['default-action'] !== undefined ? { default_action: values['default-action'].toUpperCase() } : {}),
  };
};

/** `--download <url>` or `--download '{"url": …, "sha256": …, "name": …}'`. */
export const parseDownload = (text: string): string | Record<string, unknown> =>
  text.trimStart().startsWith('{') ? parseJsonObject(text, 'download') : text;

/** `--action <instance>=<ACTION>` of `project reply` (`*` stands for every instance the round concerns). */
export const parseInstanceAction = (text: string): [string, string] => {
  const at = text.lastIndexOf('=');
  if (at <= 0 || at === text.length - 1)
    throw new UsageError(`--action ${text}: expected <instance_id>=<ACTION>, e.g. 9f1c…=MIGRATE`);
  return [text.slice(0, at), text.slice(at + 1).toUpperCase()];
};

/** `--host a --host b,c` → [a, b, c]. */
export const hostList = (values: string[] | undefined): string[] =>
  (values ?? [])
    .flatMap((value) => value.split(','))
    .map((host) => host.trim())
    .filter(Boolean);

export const positiveNumber = (text: string | undefined, option: string, fallback: number): number => {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new UsageError(`--${option} must be a positive number, got ${text}`);
  return value;
};

/**
 * `--parallel` / `--max-failed` → the create body's `rollout` (the API checks the ranges and
 * answers a 400 naming the field); undefined when neither is given.
 */
export const rolloutOptions = (values: ParsedArgs['values']): Record<string, number> | undefined => {
  const number = (raw: string | undefined, flag: string) => {
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value)) throw new UsageError(`${flag} must be a number, got "${raw}"`);
    return value;
  };
  const parallel = number(values.parallel, '--parallel');
  const failed = number(values['max-failed'], '--max-failed');
  if (parallel === undefined && failed === undefined) return undefined;
  return {
    ...(parallel !== undefined ? { max_parallel_hosts: parallel } : {}),
    ...(failed !== undefined ? { max_failed_hosts: failed } : {}),
  };
};
