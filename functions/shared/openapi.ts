import * as z from 'zod';
import { groupConstraintSchema, instanceConstraintSchema, MAX_CONSTRAINT_SECONDS } from '../core/constraints.js';
import {
  createSessionSchema,
  DEFAULT_ACTIONS,
  detailQuery,
  groupId,
  idempotencyKey,
  instanceId,
  instanceReplySchema,
  ON_NO_REPLY,
  projectId,
  projectReplySchema,
  sessionIdParam,
  updateSessionSchema,
} from '../core/schemas.js';
import { HOST_TYPES, INSTANCE_ACTIONS, ROUND_STATES, SESSION_STATES } from '../core/states.js';

/**
 * The OpenAPI 3.1 document of the API (served at `GET /v1/openapi.json`, kept as
 * `docs/openapi.json` by `npm run openapi`).
 *
 * Request bodies, path parameters and headers are converted with `z.toJSONSchema` from the very zod
 * schemas the handlers validate with (functions/core/schemas.ts), so what the document promises is
 * what the API checks; refinements that JSON Schema cannot say (a real calendar time, unique host
 * names, the 8 KB metadata cap) are given in the descriptions. Response bodies are written here as
 * zod too; `test/contract/openapi.test.ts` drives every route to every documented status and
 * validates the bodies against this document, so it cannot drift from the handlers.
 */

// ---------------------------------------------------------------- response bodies

const fenixTime = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/)
  .describe('UTC time "YYYY-MM-DD HH:MM:SS"');
const sessionState = z.enum(SESSION_STATES);
const roundState = z.enum(ROUND_STATES);
const nullableTime = fenixTime.nullable();

const historyEntry = z.strictObject({
  at: fenixTime,
  seq: z.number().int().min(0).describe('The `event_seq` of the step (replies are filed under their round).'),
  what: z
    .enum(['state', 'host', 'notification', 'instance_action_done', 'reply', 'silent', 'download'])
    .describe(
      'What happened: a state change, a host entering or leaving maintenance, a notification, an instance action done, a reply, a project silent at a deadline (from then on given the default action), a download.',
    ),
  state: z.string().optional(),
  previous_state: z.string().optional(),
  host: z.string().optional(),
  project_id: z.string().optional(),
  instance_ids: z.array(z.string()).optional(),
  reply_at: z.string().optional(),
  replied_by: z.string().optional().describe('Subject of the token that sent the reply.'),
  reply: z.string().optional().describe('The reply state, e.g. NACK_PLANNED_MAINTENANCE.'),
  instance_actions: z.record(z.string(), z.string()).optional(),
  reason: z
    .string()
    .optional()
    .describe(
      'Why the session failed (on the MAINTENANCE_FAILED step); what became of a silent project or a download.',
    ),
  informed: z
    .literal(true)
    .optional()
    .describe('On a notification: sent for information to a project the session does not wait for.'),
});

export const sessionDetailResponse = z.strictObject({
  session: z.strictObject({
    session_id: z.uuid(),
    state: sessionState,
    previous_state: sessionState.nullable(),
    workflow: z.string(),
    maintenance_at: fenixTime,
    metadata: z.record(z.string(), z.unknown()),
    actions: z.array(
      z.strictObject({
        plugin: z.string(),
        type: z.enum(['pre', 'post', 'host', 'compute', 'controller']),
        metadata: z.record(z.string(), z.unknown()).optional(),
      }),
    ),
    download: z
      .array(z.strictObject({ url: z.string(), name: z.string(), sha256: z.string().optional() }))
      .optional()
      .describe('The `download` list as asked, names filled in.'),
    downloads: z
      .array(
        z.strictObject({
          url: z.string(),
          name: z.string(),
          sha256: z.string().nullable(),
          size: z.number().int().min(0),
          status: z.enum(['DONE', 'FAILED']),
          location: z.string().nullable().describe('Where the artefact is kept: a file path locally, s3://… in AWS.'),
          error: z.string().optional(),
        }),
      )
      .describe('What became of each download (empty until the download step ran); plug-ins receive this list.'),
    policy: z
      .strictObject({
        on_no_reply: z.enum(ON_NO_REPLY),
        default_action: z.enum(DEFAULT_ACTIONS),
        projects: z.record(
          z.string(),
          z.strictObject({
            interacting: z.boolean().optional(),
            on_no_reply: z.enum(ON_NO_REPLY).optional(),
            default_action: z.enum(DEFAULT_ACTIONS).optional(),
          }),
        ),
      })
      .describe('The tenant policy, defaults filled in.'),
    rollout: z
      .strictObject({
        max_parallel_hosts: z.number().int().min(1),
        max_failed_hosts: z.number().int().min(0),
      })
      .describe('How many hosts may be in flight at once, and how many may fail before no new one starts.'),
    hosts_in_flight: z
      .array(z.string())
      .describe('Hosts being emptied (DRAINING) or maintained (IN_MAINTENANCE) now, by name.'),
    created_at: fenixTime,
    updated_at: fenixTime,
    percent_done: z.number().int().min(0).max(100),
    failure: z
      .string()
      .nullable()
      .describe('Why the session failed, one sentence naming the cause (project, URL, host), or null.'),
    failure_details: z
      .record(z.string(), z.unknown())
      .nullable()
      .describe('The failure as data: silent_projects, nacked_by, url, host, plugin, round.'),
  }),
  round: z
    .strictObject({
      state: roundState,
      host: z.string().nullable().describe('The (first) host being emptied (PREPARE/PLANNED rounds).'),
      hosts: z.array(z.string()).describe('Every host the round empties (a rollout drains several at once).'),
      status: z.enum(['OPEN', 'CLOSED']),
      outcome: z.enum(['ACK', 'NACK', 'TIMEOUT']).nullable(),
      reply_at: fenixTime,
      waiting_for: z.array(z.string()).describe('Projects that have not answered an OPEN round yet.'),
    })
    .nullable()
    .describe('The latest reply round (null before the first).'),
  hosts: z.array(
    z.strictObject({
      name: z.string(),
      type: z.enum(HOST_TYPES),
      phase: z
        .enum(['PENDING', 'DRAINING', 'IN_MAINTENANCE', 'MAINTAINED', 'FAILED'])
        .describe(
          'DRAINING: its instances are being moved off; IN_MAINTENANCE: its plug-ins run; FAILED: it failed and stays disabled.',
        ),
      disabled: z.boolean(),
      disabled_outside: z
        .string()
        .nullable()
        .describe(
          'The reason of a disable not made by this session (an operator, another tool): the host stays disabled after it.',
        ),
      maintained: z.boolean(),
      started_at: nullableTime,
      finished_at: nullableTime,
      blocking_reason: z
        .string()
        .nullable()
        .describe('What the host waits for (a reply, a group budget, room), or why it failed.'),
    }),
  ),
  projects: z.array(
    z.strictObject({
      project_id: z.string(),
      instance_count: z.number().int().min(0),
      round_state: roundState.nullable().describe('The round the project is part of, if any.'),
      reply: z.string().nullable(),
      replied_at: nullableTime,
      replied_by: z.string().nullable(),
      pending: z.boolean().describe('True while the project still has to answer an OPEN round.'),
      silent: z.literal(true).optional().describe('The project let the round deadline pass.'),
      interacting: z
        .boolean()
        .describe(
          'Whether the session waits for its replies: a subscription delivers its notifications (or the policy says so); false once it went silent.',
        ),
      silent_in: roundState.nullable().describe('The round in which the project stayed silent, if it did.'),
      policy: z
        .strictObject({ on_no_reply: z.enum(ON_NO_REPLY), default_action: z.enum(DEFAULT_ACTIONS) })
        .describe('The policy applied to the project (its overrides over the session defaults).'),
    }),
  ),
  instances: z.array(
    z.strictObject({
      instance_id: z.string(),
      name: z.string(),
      project_id: z.string(),
      host: z.string(),
      vcpus: z.number().int().min(0),
      action: z.enum(INSTANCE_ACTIONS).nullable(),
      action_done: z.boolean(),
    }),
  ),
  instances_next: z.string().nullable().describe('Pass as `instances_next` for the next page; null on the last.'),
  plugin_runs: z.array(
    z.strictObject({
      session_id: z.uuid(),
      host: z.string(),
      plugin: z.string(),
      phase: z.string(),
      state: z.enum(['DONE', 'FAILED']),
      message: z.string().optional(),
      at: fenixTime,
    }),
  ),
  history: z.array(historyEntry),
  history_next: z.string().nullable().describe('Pass as `history_next` for the next page; null on the last.'),
});

const seconds = z.number().int().min(0).max(MAX_CONSTRAINT_SECONDS);

/** What `GET /v1/instance/{instance_id}` answers: the stored constraint, defaults filled. */
const instanceConstraintResponse = z.strictObject({
  instance_id: z.string(),
  project_id: z.string(),
  group_id: z.string().nullable().describe('The group whose rules the instance keeps; null: a group of its own.'),
  instance_name: z.string(),
  max_interruption_time: seconds.nullable().describe('Seconds of interruption it takes unnoticed; null: not stated.'),
  migration_type: z
    .enum(INSTANCE_ACTIONS)
    .nullable()
    .describe(
      "What the engine does for it when its project does not answer; null: the session policy's default_action.",
    ),
  resource_mitigation: z.boolean(),
  lead_time: seconds.nullable().describe('Seconds of notice before its action; null: the maintenance reply window.'),
});

/** What `GET /v1/instance_group/{group_id}` answers. */
const groupConstraintResponse = z.strictObject({
  group_id: z.string(),
  project_id: z.string(),
  group_name: z.string(),
  anti_affinity_group: z.boolean().describe('Members must sit on different hosts.'),
  max_instances_per_host: z.number().int().min(0).describe('At most this many members on one host; 0 = no cap.'),
  max_impacted_members: z.number().int().min(1).describe('At most this many members impacted at the same time.'),
  recovery_time: seconds.describe('Seconds a member stays impacted after its action is done.'),
  resource_mitigation: z.boolean(),
});

const RESPONSES = {
  CreateSessionResponse: z.strictObject({ session_id: z.uuid() }),
  SessionList: z.strictObject({ session_id: z.array(z.uuid()).describe('Sessions not yet deleted.') }),
  SessionState: z.strictObject({ session_id: z.uuid(), state: sessionState }),
  SessionDetail: sessionDetailResponse,
  ProjectInstances: z.strictObject({ instance_ids: z.array(z.string()) }),
  InstanceConstraint: instanceConstraintResponse,
  InstanceGroupConstraint: groupConstraintResponse,
  Empty: z.strictObject({}),
  OpenApiDocument: z.looseObject({
    openapi: z.string(),
    info: z.looseObject({}),
    paths: z.record(z.string(), z.unknown()),
  }),
} as const;

/** The error body of every failure: a short code and one human sentence. */
const errorBody = (codes: readonly [string, ...string[]]) =>
  z.strictObject({
    error: codes.length === 1 ? z.literal(codes[0]) : z.enum(codes),
    message: z.string().min(1),
  });

// ---------------------------------------------------------------- routes

type Access = 'admin' | 'project' | 'any';

interface RouteDoc {
  method: 'get' | 'post' | 'put' | 'delete';
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  access: Access;
  params?: (keyof typeof PARAMS)[];
  query?: z.ZodObject;
  headers?: Record<string, z.ZodType>;
  body?: keyof typeof REQUESTS;
  ok: keyof typeof RESPONSES;
  /** 409 codes, when the route can conflict. */
  conflicts?: readonly [string, ...string[]];
  /** A 404 for an unknown session (or project). */
  notFound?: boolean;
}

const REQUESTS = {
  CreateSessionRequest: createSessionSchema,
  UpdateSessionRequest: updateSessionSchema,
  ProjectReply: projectReplySchema,
  InstanceReply: instanceReplySchema,
  InstanceConstraintRequest: instanceConstraintSchema,
  InstanceGroupConstraintRequest: groupConstraintSchema,
} as const;

const SESSION = '/v1/maintenance/{session_id}';
const INSTANCE = '/v1/instance/{instance_id}';
const GROUP = '/v1/instance_group/{group_id}';
/** Who may touch a constraint, said once for the six constraint routes. */
const CONSTRAINT_ACCESS =
  "An admin, or the project that owns the constraint; another project's constraint is a 404, as an unknown one.";

/** `PUT` and `POST /v1/maintenance/{session_id}`: one operation under two methods. */
const UPDATE_SESSION = {
  path: SESSION,
  access: 'admin',
  params: ['session_id'],
  body: 'UpdateSessionRequest',
  ok: 'Empty',
  notFound: true,
  conflicts: [
    'session_running',
    'session_done',
    'host_work_started',
    'host_in_session',
    'state_changed',
    'gone',
    'hosts_in_flight',
  ],
} as const satisfies Partial<RouteDoc>;

/** Every route the API serves, in the order of DESIGN §3. */
export const routeDocs = (): RouteDoc[] => [
  {
    method: 'post',
    path: '/v1/maintenance',
    operationId: 'createSession',
    summary: 'Create a maintenance session and start its workflow',
    description:
      'Hosts must exist and be enabled; none named means every compute and controller host. `maintenance_at` accepts "YYYY-MM-DD HH:MM:SS" (UTC) or ISO 8601 and must be a real time; `hosts` must not repeat a name; `metadata` is at most 8192 bytes of JSON; each `actions[].plugin` must be installed. `maintenance_at` must leave projects the MAINTENANCE reply window (else 400 naming the earliest time accepted). `policy` says what happens to projects that do not interact (no subscription delivers their notifications) or stay silent: `on_no_reply` DEFAULT_ACTION (default; their instances get `default_action`, LIVE_MIGRATE unless set) or FAIL, with per-project overrides (`interacting` overrides the detection). `download` entries (a URL or `{url, sha256?, name?}`) are fetched before the first notification; only https to public addresses, or a `host:port` the operator allowed (`FENIX_DOWNLOAD_ALLOW`), else 400. `workflow` is `default` (project-level rounds) or `vnf` (PREPARE/PLANNED per instance, paced by the instance constraints: `lead_time`, `max_impacted_members`, `recovery_time`). `rollout` sets how many computes are emptied and maintained at once (`max_parallel_hosts`, default 1) and how many may fail before no new one starts (`max_failed_hosts`, default 0). An `Idempotency-Key` makes a retry return the first answer.',
    access: 'admin',
    headers: { 'Idempotency-Key': idempotencyKey },
    body: 'CreateSessionRequest',
    ok: 'CreateSessionResponse',
    conflicts: ['host_in_session', 'idempotency_key_reused', 'request_in_progress'],
  },
  {
    method: 'get',
    path: '/v1/maintenance',
    operationId: 'listSessions',
    summary: 'List the sessions not yet deleted',
    access: 'admin',
    ok: 'SessionList',
  },
  {
    method: 'get',
    path: SESSION,
    operationId: 'getSession',
    summary: "A session's state",
    access: 'admin',
    params: ['session_id'],
    ok: 'SessionState',
    notFound: true,
  },
  {
    ...UPDATE_SESSION,
    method: 'put',
    operationId: 'updateSession',
    summary: 'Continue a MAINTENANCE_FAILED session from a state',
    description:
      'Maintained hosts are not maintained again; recorded replies stand. `maintenance_at` and `metadata` may change only while no host work has started. 409 while the session runs or after it is done.',
  },
  {
    ...UPDATE_SESSION,
    method: 'post',
    operationId: 'updateSessionPost',
    summary: 'Continue a MAINTENANCE_FAILED session from a state (the same as PUT)',
    description: 'The API document names POST for update; it behaves exactly as `PUT /v1/maintenance/{session_id}`.',
  },
  {
    method: 'delete',
    path: SESSION,
    operationId: 'deleteSession',
    summary: 'Stop the workflow, re-enable its hosts and remove the session',
    access: 'admin',
    params: ['session_id'],
    ok: 'Empty',
    notFound: true,
  },
  {
    method: 'get',
    path: `${SESSION}/detail`,
    operationId: 'getSessionDetail',
    summary: 'The full session view: hosts, projects, instances, plug-in runs and history',
    description:
      'Instances and history come a page at a time: pass the `*_next` value of one answer to get the next page.',
    access: 'admin',
    params: ['session_id'],
    query: detailQuery,
    ok: 'SessionDetail',
    notFound: true,
  },
  {
    method: 'get',
    path: `${SESSION}/{project_id}`,
    operationId: 'getProjectInstances',
    summary: "The project's instances the current state concerns",
    description:
      'Before the session has listed the instances on its hosts (its first moments) the answer is 409 `not_ready` with `Retry-After: 1`; after, a project with no instances there is a 404.',
    access: 'project',
    params: ['session_id', 'project_id'],
    ok: 'ProjectInstances',
    notFound: true,
    conflicts: ['not_ready'],
  },
  {
    method: 'put',
    path: `${SESSION}/{project_id}`,
    operationId: 'putProjectReply',
    summary: "A project's reply (ACK/NACK and instance actions) to the round the session waits on",
    description:
      "An ACK of PREPARE_MAINTENANCE or PLANNED_MAINTENANCE names an action for each instance on the host being emptied; instances must be the project's and actions allowed in the round (400 otherwise). A repeat of an accepted reply answers 200 and changes nothing.",
    access: 'project',
    params: ['session_id', 'project_id'],
    body: 'ProjectReply',
    ok: 'Empty',
    notFound: true,
    conflicts: [
      'not_waiting',
      'wrong_state',
      'not_expected',
      'not_interacting',
      'already_replied',
      'round_closed',
      'not_ready',
    ],
  },
  {
    method: 'put',
    path: `${SESSION}/{project_id}/{instance_id}`,
    operationId: 'putInstanceReply',
    summary: 'Workflow vnf: the reply about one instance (its action, ACK or NACK)',
    description:
      "Answers a per-instance PREPARE_MAINTENANCE or PLANNED_MAINTENANCE notification (its `reply_url`) before its `reply_at` (the instance's `lead_time` after the notification). Any allowed action is accepted; a NACK fails the session. A repeat of the filed reply answers 200 and changes nothing; 409 `not_vnf` for a session of another workflow, `not_notified` before the instance was notified, `round_closed` after its reply_at or once its action is decided.",
    access: 'project',
    params: ['session_id', 'project_id', 'instance_id'],
    body: 'InstanceReply',
    ok: 'Empty',
    notFound: true,
    conflicts: [
      'not_vnf',
      'not_waiting',
      'wrong_state',
      'not_notified',
      'not_interacting',
      'already_replied',
      'round_closed',
    ],
  },
  {
    method: 'put',
    path: INSTANCE,
    operationId: 'putInstanceConstraint',
    summary: "Create or replace an instance's constraint (ETSI FEAT03)",
    description: `${CONSTRAINT_ACCESS} The cloud must know the instance as the project's (404 otherwise; an admin, who names the project in \`project_id\`, gets a 400 naming the real owner). \`instance_id\` and \`project_id\` in the body, when given, must be the path's and the caller's. A PUT replaces the whole object: fields left out take their defaults — \`group_id\` null (a group of its own), \`instance_name\` the cloud's name, \`max_interruption_time\` null, \`migration_type\` null (the session policy's \`default_action\`), \`resource_mitigation\` false, \`lead_time\` null (the maintenance reply window). Times are whole seconds, 0 to ${MAX_CONSTRAINT_SECONDS}.`,
    access: 'any',
    params: ['instance_id'],
    body: 'InstanceConstraintRequest',
    ok: 'Empty',
    notFound: true,
  },
  {
    method: 'get',
    path: INSTANCE,
    operationId: 'getInstanceConstraint',
    summary: "An instance's stored constraint, defaults filled",
    description: CONSTRAINT_ACCESS,
    access: 'any',
    params: ['instance_id'],
    ok: 'InstanceConstraint',
    notFound: true,
  },
  {
    method: 'delete',
    path: INSTANCE,
    operationId: 'deleteInstanceConstraint',
    summary: "Remove an instance's constraint (not the instance)",
    description: CONSTRAINT_ACCESS,
    access: 'any',
    params: ['instance_id'],
    ok: 'Empty',
    notFound: true,
  },
  {
    method: 'put',
    path: GROUP,
    operationId: 'putInstanceGroupConstraint',
    summary: "Create or replace an instance group's constraint (ETSI FEAT03)",
    description: `${CONSTRAINT_ACCESS} Defaults: \`group_name\` "", \`anti_affinity_group\` false, \`max_instances_per_host\` 0 (no cap), \`max_impacted_members\` 1, \`recovery_time\` 0, \`resource_mitigation\` false. The group's members are the project's instances whose constraint names it; placement (anti-affinity, \`max_instances_per_host\`) binds every move of them, and the simulated cloud refuses a move that would break it. An admin may not give a group to another project (409 \`owner_mismatch\`: delete it first).`,
    access: 'any',
    params: ['group_id'],
    body: 'InstanceGroupConstraintRequest',
    ok: 'Empty',
    notFound: true,
    conflicts: ['owner_mismatch'],
  },
  {
    method: 'get',
    path: GROUP,
    operationId: 'getInstanceGroupConstraint',
    summary: "An instance group's stored constraint, defaults filled",
    description: CONSTRAINT_ACCESS,
    access: 'any',
    params: ['group_id'],
    ok: 'InstanceGroupConstraint',
    notFound: true,
  },
  {
    method: 'delete',
    path: GROUP,
    operationId: 'deleteInstanceGroupConstraint',
    summary: "Remove an instance group's constraint (its members keep theirs, and no longer have group rules)",
    description: CONSTRAINT_ACCESS,
    access: 'any',
    params: ['group_id'],
    ok: 'Empty',
    notFound: true,
  },
  {
    method: 'get',
    path: '/v1/openapi.json',
    operationId: 'getOpenApi',
    summary: 'This document',
    access: 'any',
    ok: 'OpenApiDocument',
  },
];

const ACCESS_TEXT: Record<Access, string> = {
  admin: 'Needs an admin token (scope `fenix/admin`).',
  project: 'Needs an admin token, or a project token whose project is `{project_id}`.',
  any: 'Any admin or project token.',
};

const PARAMS = {
  session_id: { schema: sessionIdParam, description: 'The session id (a UUID).' },
  project_id: { schema: projectId, description: 'The project (tenant) id.' },
  instance_id: { schema: instanceId, description: 'The instance id, as the cloud knows it.' },
  group_id: { schema: groupId, description: 'The instance group id (the Nova server-group id when there is one).' },
} as const;

// ---------------------------------------------------------------- JSON Schema conversion

type Json = Record<string, unknown>;

/** A recursive definition zod emits for `z.json()`: named once, shared by every schema using it. */
const isJsonValue = (schema: Json) =>
  Array.isArray(schema.anyOf) &&
  schema.anyOf.length === 6 &&
  (schema.anyOf as Json[]).some((branch) => branch.type === 'null');

/**
 * Converts a zod schema to a JSON Schema 2020-12 object usable inside OpenAPI 3.1: its `$defs` are
 * moved to `components.schemas` (identical ones shared) and every `$ref` rewritten to point there.
 */
const convert = (owner: string, schema: z.ZodType, io: 'input' | 'output', components: Record<string, Json>): Json => {
  const {
    $defs = {},
    $schema: _dialect,
    ...root
  } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Json & {
    $defs?: Record<string, Json>;
  };
  const componentName = (name: string, def: Json) =>
    isJsonValue(def) ? 'JsonValue' : `${owner}_${name.replace(/^_+/, '')}`;
  const names: Record<string, string> = {};
  for (const [name, def] of Object.entries($defs)) names[name] = componentName(name, def);
  const rewrite = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(rewrite);
    if (!node || typeof node !== 'object') return node;
    return Object.fromEntries(
      Object.entries(node).map(([key, value]) => {
        if (key === '$ref' && typeof value === 'string') {
          if (value === '#') return [key, `#/components/schemas/${owner}`];
          if (value.startsWith('#/$defs/'))
            return [key, `#/components/schemas/${names[value.slice('#/$defs/'.length)]}`];
        }
        return [key, rewrite(value)];
      }),
    );
  };
  for (const [name, def] of Object.entries($defs)) {
    const target = componentName(name, def);
    const body = rewrite(def) as Json;
    const existing = components[target];
    if (existing && JSON.stringify(existing) !== JSON.stringify(body))
      throw new Error(`openapi: two different schemas named ${target}`);
    components[target] = body;
  }
  return rewrite(root) as Json;
};

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

// ---------------------------------------------------------------- the document

const STANDARD_ERRORS = {
  BadRequest: {
    status: '400',
    code: 'invalid_request',
    description: 'Invalid path, query, header or body; the message names the field.',
  },
  Unauthorized: { status: '401', code: 'unauthorized', description: 'No valid bearer token.' },
  Forbidden: {
    status: '403',
    code: 'forbidden',
    description: 'The token may not call this route (or act for this project).',
  },
  NotFound: {
    status: '404',
    code: 'not_found',
    description:
      "No such session, or the project has no instances in it; no such constraint, or not the caller's; an instance the cloud does not know as the project's.",
  },
  PayloadTooLarge: { status: '413', code: 'payload_too_large', description: 'The request body is over 256 KiB.' },
  InternalError: {
    status: '500',
    code: 'internal_error',
    description: 'An unexpected failure; the message reveals nothing, the details are logged.',
  },
} as const;

export const OPENAPI_VERSION = '3.1.0';

/** Builds the document from the request schemas the handlers validate with. */
export const buildOpenApi = (): Json => {
  const schemas: Record<string, Json> = {};
  for (const [name, schema] of Object.entries(REQUESTS)) schemas[name] = convert(name, schema, 'input', schemas);
  for (const [name, schema] of Object.entries(RESPONSES)) schemas[name] = convert(name, schema, 'output', schemas);

  const responses: Record<string, Json> = {};
  for (const [name, error] of Object.entries(STANDARD_ERRORS)) {
    responses[name] = {
      description: error.description,
      ...(error.status === '401'
        ? {
            headers: {
              'WWW-Authenticate': { description: 'Always `Bearer`.', schema: { type: 'string', const: 'Bearer' } },
            },
          }
        : {}),
      content: { 'application/json': { schema: convert(`${name}Error`, errorBody([error.code]), 'output', schemas) } },
    };
  }

  const paths: Record<string, Record<string, Json>> = {};
  for (const route of routeDocs()) {
    const parameters: Json[] = [];
    for (const name of route.params ?? []) {
      const param = PARAMS[name];
      parameters.push({
        name,
        in: 'path',
        required: true,
        description: param.description,
        schema: convert(name, param.schema, 'input', schemas),
      });
    }
    for (const [name, schema] of Object.entries(route.headers ?? {})) {
      const inner = schema instanceof z.ZodOptional ? (schema.unwrap() as z.ZodType) : schema;
      parameters.push({
        name,
        in: 'header',
        required: !(schema instanceof z.ZodOptional),
        schema: convert(name, inner, 'input', schemas),
      });
    }
    for (const [name, schema] of Object.entries(route.query?.shape ?? {})) {
      const converted = convert(name, schema as z.ZodType, 'input', schemas);
      parameters.push({
        name,
        in: 'query',
        required: !(schema as z.ZodType).safeParse(undefined).success,
        schema: converted,
      });
    }
    const statuses: Record<string, Json> = {
      '200': { description: 'OK', content: { 'application/json': { schema: ref(route.ok) } } },
      '400': { $ref: '#/components/responses/BadRequest' },
      '401': { $ref: '#/components/responses/Unauthorized' },
      '403': { $ref: '#/components/responses/Forbidden' },
    };
    if (route.notFound) statuses['404'] = { $ref: '#/components/responses/NotFound' };
    if (route.conflicts) {
      statuses['409'] = {
        description: `Conflicts with the current state; \`error\` is one of ${route.conflicts.map((code) => `\`${code}\``).join(', ')}.`,
        content: {
          'application/json': {
            schema: convert(`${route.operationId}Conflict`, errorBody(route.conflicts), 'output', schemas),
          },
        },
      };
    }
    statuses['413'] = { $ref: '#/components/responses/PayloadTooLarge' };
    statuses['500'] = { $ref: '#/components/responses/InternalError' };
    const operation: Json = {
      operationId: route.operationId,
      summary: route.summary,
      description: [route.description, ACCESS_TEXT[route.access]].filter(Boolean).join('\n\n'),
      'x-fenix-access': route.access,
      ...(parameters.length ? { parameters } : {}),
      ...(route.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: ref(route.body) } } } }
        : {}),
      responses: statuses,
    };
    const path = paths[route.path] ?? {};
    path[route.method] = operation;
    paths[route.path] = path;
  }

  return {
    openapi: OPENAPI_VERSION,
    info: {
      title: 'Fenix Host Maintenance API',
      version: 'v1',
      description: [
        'OpenStack Fenix Host Maintenance API v1 on AWS serverless. JSON in, JSON out; times are UTC "YYYY-MM-DD HH:MM:SS" (ISO 8601 also accepted on input).',
        'Every path is also served with a trailing slash. Every failure answers `{"error": "<code>", "message": "<sentence>"}`; a path the API does not serve answers 404 `not_found` (the local runtime answers 405 `method_not_allowed` for a known path with another method).',
        'Every route needs `Authorization: Bearer <JWT>`. Admin tokens carry the scope `fenix/admin`; a VNFM token carries `fenix/project` and names its project (claim `fenix:project_id`, or scope `fenix/project.<id>`).',
        'Events (EventBridge, source `fenix`): see docs/events/*.json.',
      ].join('\n\n'),
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'A JWT from the deployment issuer (Cognito by default); locally `npm run --silent token -- --admin`.',
        },
      },
      schemas,
      responses,
    },
  };
};
