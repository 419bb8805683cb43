import { readFileSync } from 'node:fs';
import { allowOnly, type OptionName, operands, parseJsonObject, UsageError } from './args.js';
import { type Context, printJson } from './context.js';
import type { Role } from './http.js';

/**
 * `fenix constraints put|get|delete instance|group <id>`: instance and instance-group constraints
 * (DESIGN §12), as a VNFM pushes them. `--project <id>` speaks for that project (a minted project
 * token locally) and is the body's `project_id`; without it the CLI speaks as admin.
 */

const KINDS = {
  instance: { path: '/v1/instance', what: 'instance' },
  group: { path: '/v1/instance_group', what: 'instance group' },
} as const;
type Kind = keyof typeof KINDS;

type Parse = 'text' | 'upper' | 'number' | 'flag';
/** The body's fields as options, per kind: option, field, how its text becomes the value. */
const FIELDS: Record<Kind, [OptionName, string, Parse][]> = {
  instance: [
    ['group-id', 'group_id', 'text'],
    ['instance-name', 'instance_name', 'text'],
    ['max-interruption-time', 'max_interruption_time', 'number'],
    ['migration-type', 'migration_type', 'upper'],
    ['lead-time', 'lead_time', 'number'],
    ['resource-mitigation', 'resource_mitigation', 'flag'],
  ],
  group: [
    ['group-name', 'group_name', 'text'],
    ['anti-affinity-group', 'anti_affinity_group', 'flag'],
    ['max-instances-per-host', 'max_instances_per_host', 'number'],
    ['max-impacted-members', 'max_impacted_members', 'number'],
    ['recovery-time', 'recovery_time', 'number'],
    ['resource-mitigation', 'resource_mitigation', 'flag'],
  ],
};

interface Target {
  kind: Kind;
  id: string;
  path: string;
  role: Role;
  /** "instance vm-1" or "instance group g-1". */
  label: string;
}

const targetOf = (ctx: Context, command: string, allowed: (kind: Kind) => OptionName[]): Target => {
  const [kind = '', id = ''] = operands(ctx.args, 2, ['instance|group', 'id'], command);
  if (kind !== 'instance' && kind !== 'group') throw new UsageError(`${command}: say instance or group, not ${kind}`);
  allowOnly(ctx.args, `${command} ${kind}`, ['project', ...allowed(kind)]);
  const project = ctx.args.values.project;
  return {
    kind,
    id,
    path: `${KINDS[kind].path}/${encodeURIComponent(id)}`,
    role: project ? { project } : { admin: true },
    label: `${KINDS[kind].what} ${id}`,
  };
};

/** `--json-body '<json>'` or `--json-body @file.json`. */
const jsonBody = (text: string | undefined): Record<string, unknown> => {
  if (text === undefined) return {};
  if (!text.startsWith('@')) return parseJsonObject(text, 'json-body');
  let content: string;
  try {
    content = readFileSync(text.slice(1), 'utf8');
  } catch (error) {
    throw new UsageError(`--json-body ${text}: ${(error as NodeJS.ErrnoException).code ?? 'cannot read the file'}`);
  }
  return parseJsonObject(content, 'json-body');
};

const fieldValue = (option: OptionName, parse: Parse, raw: string | boolean): unknown => {
  if (parse === 'flag') return raw === true;
  const text = String(raw);
  if (parse === 'upper') return text.toUpperCase();
  if (parse === 'text') return text;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new UsageError(`--${option} must be a number, got ${text}`);
  return value;
};

/** One `field: value` line each, the way `session show` lists a record. */
const render = (label: string, stored: Record<string, unknown>): string =>
  `${label}\n${Object.entries(stored)
    .map(([field, value]) => `  ${field}: ${value === null ? '-' : String(value)}`)
    .join('\n')}\n`;

/**
 * `constraints put instance|group <id> [--json-body <json>|@file] [--<field> <value>]… [--project P]`:
 * the body is `--json-body` with each field option over it (and `project_id` from `--project`). A
 * PUT replaces the whole object; the stored result is read back and printed.
 */
export const putConstraint = async (ctx: Context): Promise<number> => {
  const target = targetOf(ctx, 'constraints put', (kind) => ['json-body', ...FIELDS[kind].map(([option]) => option)]);
  const { values } = ctx.args;
  const body: Record<string, unknown> = { ...jsonBody(values['json-body']) };
  for (const [option, field, parse] of FIELDS[target.kind]) {
    const raw = values[option as keyof typeof values];
    if (raw !== undefined) body[field] = fieldValue(option, parse, raw as string | boolean);
  }
  if (values.project !== undefined) body.project_id = values.project;
  await ctx.api.request('PUT', target.path, { body, role: target.role });
  const stored = await ctx.api.request<Record<string, unknown>>('GET', target.path, { role: target.role });
  if (ctx.json) printJson(ctx.io, stored);
  else ctx.io.stdout(render(`stored the constraint of ${target.label}`, stored));
  return 0;
};

export const getConstraint = async (ctx: Context): Promise<number> => {
  const target = targetOf(ctx, 'constraints get', () => []);
  const stored = await ctx.api.request<Record<string, unknown>>('GET', target.path, { role: target.role });
  if (ctx.json) printJson(ctx.io, stored);
  else ctx.io.stdout(render(`the constraint of ${target.label}`, stored));
  return 0;
};

export const deleteConstraint = async (ctx: Context): Promise<number> => {
  const target = targetOf(ctx, 'constraints delete', () => []);
  const answer = await ctx.api.request('DELETE', target.path, { role: target.role });
  if (ctx.json) printJson(ctx.io, answer ?? {});
  else ctx.io.stdout(`deleted the constraint of ${target.label}\n`);
  return 0;
};
