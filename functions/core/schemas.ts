import * as z from 'zod';
import { downloadListSchema } from './downloads.js';
import { INSTANCE_ACTIONS, PLUGIN_TYPES, ROUND_STATES } from './states.js';
import { parseFenixTime } from './time.js';

/**
 * Request schemas: the single source of validation for the handlers (and, later, of the OpenAPI
 * document). Every object is strict, so an unknown field is a 400 that names it.
 */

/** Names of hosts, projects, instances and plug-ins: printable, no path or query metacharacters. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:@-]*$/;
const name = (what: string, max: number) =>
  z
    .string({ error: `${what} must be a string` })
    .min(1, `${what} must not be empty`)
    .max(max, `${what} must be at most ${max} characters`)
    .regex(NAME, `${what} may hold only letters, digits and . _ : @ -, starting with a letter or digit`);

export const hostName = name('host name', 255);
export const projectId = name('project_id', 64);
export const instanceId = name('instance id', 128);
export const pluginName = name('plugin', 64).regex(
  /^[a-z0-9_-]+$/,
  'plugin must be lower-case letters, digits, _ or -',
);

/** The optional `Idempotency-Key` header of session creation. */
export const idempotencyKey = z
  .string()
  .min(1, 'Idempotency-Key must not be empty')
  .max(128, 'Idempotency-Key must be at most 128 characters')
  .regex(/^[\x21-\x7e]+$/, 'Idempotency-Key must be printable ASCII without spaces')
  .optional();

export const sessionIdParam = z.uuid({ error: 'session_id must be a UUID' });

const fenixTime = z
  .string({ error: 'must be a time string "YYYY-MM-DD HH:MM:SS" (UTC)' })
  .max(40, 'must be a time string "YYYY-MM-DD HH:MM:SS" (UTC)')
  .refine((text) => parseFenixTime(text) !== undefined, 'must be a time "YYYY-MM-DD HH:MM:SS" (UTC) or ISO 8601');

/** Free-form hints; capped because they travel inside every notification (256 KB event limit). */
export const METADATA_MAX_BYTES = 8192;
const metadata = z
  .record(z.string().max(256), z.json())
  .refine((value) => Buffer.byteLength(JSON.stringify(value)) <= METADATA_MAX_BYTES, {
    message: `must be at most ${METADATA_MAX_BYTES} bytes of JSON`,
  });

export const MAX_HOSTS = 5000;

export const actionPluginSchema = z.strictObject({
  plugin: pluginName,
  type: z.enum(PLUGIN_TYPES, { error: `type must be one of ${PLUGIN_TYPES.join(', ')}` }),
  metadata: metadata.optional(),
});
export type ActionPlugin = z.infer<typeof actionPluginSchema>;

/** What the engine does with a project's instances when the project does not answer (DESIGN §11). */
export const ON_NO_REPLY = ['DEFAULT_ACTION', 'FAIL'] as const;
export const DEFAULT_ACTIONS = ['LIVE_MIGRATE', 'MIGRATE', 'EVICTION'] as const;
const onNoReply = z.enum(ON_NO_REPLY, { error: `on_no_reply must be one of ${ON_NO_REPLY.join(', ')}` });
const defaultAction = z.enum(DEFAULT_ACTIONS, { error: `default_action must be one of ${DEFAULT_ACTIONS.join(', ')}` });

export const projectPolicySchema = z.strictObject({
  /** Overrides the detection (does a subscription deliver this project's notifications?). */
  interacting: z.boolean({ error: 'interacting must be true or false' }).optional(),
  on_no_reply: onNoReply.optional(),
  default_action: defaultAction.optional(),
});
export type ProjectPolicyOverride = z.infer<typeof projectPolicySchema>;

export const policySchema = z.strictObject({
  on_no_reply: onNoReply.default('DEFAULT_ACTION'),
  default_action: defaultAction.default('LIVE_MIGRATE'),
  projects: z
    .record(projectId, projectPolicySchema)
    .refine((value) => Object.keys(value).length <= 1000, 'at most 1000 project policies')
    .default({}),
});
export type SessionPolicy = z.infer<typeof policySchema>;

/** `default`: Fenix's project-level rounds; `vnf`: PREPARE/PLANNED per instance, paced by the instance constraints. */
export const WORKFLOWS = ['default', 'vnf'] as const;

/** How many hosts are maintained at once, and how many may fail before no new one starts (DESIGN §12). */
export const rolloutSchema = z.strictObject({
  max_parallel_hosts: z
    .number({ error: 'max_parallel_hosts must be a whole number from 1 to 1000' })
    .int('max_parallel_hosts must be a whole number from 1 to 1000')
    .min(1, 'max_parallel_hosts must be at least 1')
    .max(1000, 'max_parallel_hosts must be at most 1000')
    .default(1),
  max_failed_hosts: z
    .number({ error: 'max_failed_hosts must be a whole number ≥ 0' })
    .int('max_failed_hosts must be a whole number ≥ 0')
    .min(0, 'max_failed_hosts must be ≥ 0')
    .max(MAX_HOSTS, `max_failed_hosts must be at most ${MAX_HOSTS}`)
    .default(0),
});

export const createSessionSchema = z.strictObject({
  state: z.literal('MAINTENANCE', { error: 'state must be "MAINTENANCE" (the initial state)' }),
  maintenance_at: fenixTime,
  hosts: z
    .array(hostName)
    .max(MAX_HOSTS, `at most ${MAX_HOSTS} hosts per session`)
    .refine((hosts) => new Set(hosts).size === hosts.length, 'hosts must not repeat a name')
    .default([]),
  workflow: z.enum(WORKFLOWS, { error: `workflow must be one of ${WORKFLOWS.join(', ')}` }).default('default'),
  metadata: metadata.default({}),
  download: downloadListSchema.optional(),
  actions: z.array(actionPluginSchema).max(100).default([]),
  policy: policySchema.default(() => policySchema.parse({})),
  rollout: rolloutSchema.default(() => rolloutSchema.parse({})),
});
export type CreateSessionRequest = z.infer<typeof createSessionSchema>;

/** States a failed session can be continued from (DONE and FAILED are not places to resume). */
export const RESUMABLE_STATES = [
  'MAINTENANCE',
  'SCALE_IN',
  'PREPARE_MAINTENANCE',
  'START_MAINTENANCE',
  'PLANNED_MAINTENANCE',
  'MAINTENANCE_COMPLETE',
] as const;

export const updateSessionSchema = z.strictObject({
  state: z.enum(RESUMABLE_STATES, {
    error: `state must be one of ${RESUMABLE_STATES.join(', ')} (the state to continue from)`,
  }),
  maintenance_at: fenixTime.optional(),
  metadata: metadata.optional(),
});
export type UpdateSessionRequest = z.infer<typeof updateSessionSchema>;

const REPLY_STATE = new RegExp(`^(ACK|NACK)_(${ROUND_STATES.join('|')})$`);

export const projectReplySchema = z.strictObject({
  state: z
    .string({ error: 'state must be a string such as "ACK_MAINTENANCE"' })
    .max(64)
    .regex(REPLY_STATE, `state must be ACK_ or NACK_ followed by one of ${ROUND_STATES.join(', ')}`),
  instance_actions: z
    .record(
      instanceId,
      z.enum(INSTANCE_ACTIONS, { error: `each action must be one of ${INSTANCE_ACTIONS.join(', ')}` }),
    )
    .refine((value) => Object.keys(value).length <= 10000, 'at most 10000 instance actions')
    .default({}),
});
export type ProjectReply = z.infer<typeof projectReplySchema>;

/** `PUT /v1/maintenance/{s}/{p}/{instance_id}` (`vnf`): one instance's action and verdict. */
export const instanceReplySchema = z.strictObject({
  instance_action: z.enum(INSTANCE_ACTIONS, {
    error: `instance_action must be one of ${INSTANCE_ACTIONS.join(', ')}`,
  }),
  state: z
    .string({ error: 'state must be a string such as "ACK_PLANNED_MAINTENANCE"' })
    .max(64)
    .regex(
      /^(ACK|NACK)_(PREPARE_MAINTENANCE|PLANNED_MAINTENANCE)$/,
      'state must be ACK_ or NACK_ followed by PREPARE_MAINTENANCE or PLANNED_MAINTENANCE',
    ),
});
export type InstanceReply = z.infer<typeof instanceReplySchema>;

/** Splits a validated reply state into its verdict and the state it answers. */
export const parseReplyState = (state: string) => {
  const match = REPLY_STATE.exec(state);
  if (!match) throw new Error(`not a reply state: ${state}`);
  return { verdict: match[1] as 'ACK' | 'NACK', state: match[2] as (typeof ROUND_STATES)[number] };
};

/** One sentence naming the first offending field, for the `message` of a 400. */
export const describeIssues = (error: z.ZodError): string => {
  const issue = error.issues[0];
  if (!issue) return 'invalid request';
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const where = path ? ` in ${path}` : '';
    return `unknown field${issue.keys.length > 1 ? 's' : ''}${where}: ${issue.keys.join(', ')}`;
  }
  if (issue.code === 'invalid_key') {
    return `${path}: invalid key (${issue.issues[0]?.message ?? 'not allowed'})`;
  }
  return path ? `${path}: ${issue.message}` : issue.message;
};

/** Query of `GET /v1/maintenance/{id}/detail`: page sizes and page tokens of the long lists. */
const limit = (name: string, fallback: number) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .int(`${name} must be a whole number`)
    .min(1, `${name} must be at least 1`)
    .max(1000, `${name} must be at most 1000`)
    .default(fallback);
const token = z
  .string()
  .max(2048)
  .regex(/^[A-Za-z0-9_-]+$/, 'not a page token')
  .optional();

export const detailQuery = z.strictObject({
  instances_limit: limit('instances_limit', 500),
  instances_next: token,
  history_limit: limit('history_limit', 500),
  history_next: token,
});

/** The id of an instance group (constraints, DESIGN §12): a Nova server-group UUID, or any name the VNFM picks. */
export const groupId = name('group_id', 128);
