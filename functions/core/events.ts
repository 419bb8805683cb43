import * as z from 'zod';
import { INSTANCE_ACTIONS, ROUND_STATES, type RoundState, SESSION_STATES, type SessionState } from './states.js';

/** The three event types of DESIGN §5 (contract). Every event carries `service` and `event_seq`. */
export const EVENT_SOURCE = 'fenix';

export interface ScheduledDetail {
  service: 'fenix';
  session_id: string;
  project_id: string;
  state: RoundState | 'INSTANCE_ACTION_DONE';
  /** URL of the project GET, or a one-id list (INSTANCE_ACTION_DONE, and the `vnf` workflow's per-instance notifications). */
  instance_ids: string | string[];
  reply_url: string;
  allowed_actions: string[];
  actions_at: string | null;
  reply_at: string | null;
  metadata: Record<string, unknown>;
  event_seq: number;
}

export interface HostDetail {
  service: 'fenix';
  session_id: string;
  host: string;
  state: 'IN_MAINTENANCE' | 'MAINTENANCE_COMPLETE' | 'MAINTENANCE_FAILED';
  event_seq: number;
}

export interface SessionDetail {
  service: 'fenix';
  session_id: string;
  state: SessionState;
  previous_state: SessionState | null;
  percent_done: number;
  event_seq: number;
}

export type FenixEvent =
  | { detailType: 'maintenance.scheduled'; detail: ScheduledDetail }
  | { detailType: 'maintenance.host'; detail: HostDetail }
  | { detailType: 'maintenance.session'; detail: SessionDetail };

/** The project API URL: `instance_ids` (GET) and `reply_url` (PUT) of every project notification. */
export const projectUrl = (apiBaseUrl: string, sessionId: string, projectId: string): string =>
  `${apiBaseUrl.replace(/\/+$/, '')}/v1/maintenance/${sessionId}/${encodeURIComponent(projectId)}`;

// ---------------------------------------------------------------- event schemas (docs/events/*.json)
// The contract above as zod: the source of the JSON Schemas in docs/events/ and of the EventBridge
// schema registry (infra/constructs/event-schemas.ts). `test/contract/events.test.ts` checks every
// event a full session emits against them, so the interfaces above and these cannot drift apart.

/** `YYYY-MM-DD HH:MM:SS` (UTC), the Fenix time form of `actions_at` and `reply_at`. */
const fenixTimeText = z.string().regex(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/, 'a UTC time "YYYY-MM-DD HH:MM:SS"');
const eventSeq = z
  .number()
  .int()
  .min(0)
  .describe(
    'Per-session step number: a redelivery or a retried step carries the same value; drop repeats by (session_id, event_seq).',
  );
const eventSessionId = z.uuid().describe('The maintenance session.');
const service = z.literal(EVENT_SOURCE).describe('Always "fenix".');

const roundNotification = z
  .strictObject({
    service,
    session_id: eventSessionId,
    project_id: z.string().min(1).describe('The project (tenant) the notification is for.'),
    state: z.enum(ROUND_STATES).describe('The state the project is asked to answer (ACK_<state> or NACK_<state>).'),
    instance_ids: z
      .url()
      .describe('URL of GET /v1/maintenance/{session_id}/{project_id}: the instances this state concerns.'),
    reply_url: z.url().describe('URL of PUT /v1/maintenance/{session_id}/{project_id}, where the reply goes.'),
    allowed_actions: z
      .array(z.enum(INSTANCE_ACTIONS))
      .describe('Instance actions the reply may ask for (empty: none).'),
    actions_at: fenixTimeText.describe('When Fenix starts acting on the instances.'),
    reply_at: fenixTimeText.describe(
      "Reply deadline. A project silent by then gets the session's default action for its instances and is not waited for again (policy on_no_reply DEFAULT_ACTION), or fails the session (FAIL).",
    ),
    metadata: z.record(z.string(), z.unknown()).describe('The session metadata, as given at creation.'),
    event_seq: eventSeq,
  })
  .describe(
    'A reply round: the project answers before reply_at. A project no subscription delivers to (non-interacting) gets the same notification for information only: the session does not wait for it, and its instances get the default action.',
  );

const instanceActionDone = z
  .strictObject({
    service,
    session_id: eventSessionId,
    project_id: z.string().min(1),
    state: z.literal('INSTANCE_ACTION_DONE'),
    instance_ids: z.array(z.string().min(1)).length(1).describe('The one instance Fenix has just acted on.'),
    reply_url: z.url(),
    allowed_actions: z.array(z.enum(INSTANCE_ACTIONS)).max(0),
    actions_at: z.null(),
    reply_at: z.null(),
    metadata: z.record(z.string(), z.unknown()),
    event_seq: eventSeq,
  })
  .describe(
    'Fenix carried out the action asked for one instance, or the default action it chose for a project that did not answer (no reply expected).',
  );

const instanceNotification = z
  .strictObject({
    service,
    session_id: eventSessionId,
    project_id: z.string().min(1).describe('The project that owns the instance.'),
    state: z.enum(['PREPARE_MAINTENANCE', 'PLANNED_MAINTENANCE']).describe('The state the instance is moved in.'),
    instance_ids: z.array(z.string().min(1)).length(1).describe('The one instance this notification is about.'),
    reply_url: z
      .url()
      .describe('URL of PUT /v1/maintenance/{session_id}/{project_id}/{instance_id}, where the reply goes.'),
    allowed_actions: z.array(z.enum(INSTANCE_ACTIONS)).describe('Actions the reply may ask for.'),
    actions_at: fenixTimeText.describe('When Fenix acts on the instance at the latest (now + its lead_time).'),
    reply_at: fenixTimeText.describe(
      "Reply deadline (now + the instance's lead_time). Silent by then: the instance's migration_type, or the session fails (on_no_reply FAIL).",
    ),
    metadata: z.record(z.string(), z.unknown()).describe('The session metadata, as given at creation.'),
    event_seq: eventSeq,
  })
  .describe(
    'Workflow "vnf": one instance is about to be moved, as its group budget allows. Its project replies {instance_action, state} on reply_url; an instance of a non-interacting project gets this for information as its action starts.',
  );

export const scheduledDetailSchema = z.union([roundNotification, instanceNotification, instanceActionDone]);

export const hostDetailSchema = z.strictObject({
  service,
  session_id: eventSessionId,
  host: z.string().min(1).describe('The host entering or leaving maintenance.'),
  state: z
    .enum(['IN_MAINTENANCE', 'MAINTENANCE_COMPLETE', 'MAINTENANCE_FAILED'])
    .describe(
      'MAINTENANCE_FAILED: its maintenance failed (a plug-in, or an instance that could not be moved off it); it stays disabled.',
    ),
  event_seq: eventSeq,
});

export const sessionDetailSchema = z.strictObject({
  service,
  session_id: eventSessionId,
  state: z.enum(SESSION_STATES).describe('The state the session has just entered.'),
  previous_state: z.enum(SESSION_STATES).nullable().describe('The state it left (null for the first).'),
  percent_done: z.number().int().min(0).max(100).describe('Share of the session hosts maintained so far.'),
  event_seq: eventSeq,
});

/**
 * The EventBridge envelope around a detail, as rules deliver it (API destinations POST it as the
 * body). EventBridge owns the envelope, so other fields are allowed there; the detail is ours and strict.
 */
const envelopeOf = <D extends z.ZodType, T extends string>(detailType: T, detail: D) =>
  z.looseObject({
    version: z.string(),
    id: z.string().min(1),
    'detail-type': z.literal(detailType),
    source: z.literal(EVENT_SOURCE),
    account: z.string(),
    time: z.string().describe('ISO 8601 time EventBridge received the event.'),
    region: z.string(),
    resources: z.array(z.string()),
    detail,
  });

/** The three event types, each as its whole envelope. */
export const EVENT_SCHEMAS = {
  'maintenance.scheduled': envelopeOf('maintenance.scheduled', scheduledDetailSchema).describe(
    'Fenix asks a project to act on a maintenance step (or tells it an instance action is done). Sent per project.',
  ),
  'maintenance.host': envelopeOf('maintenance.host', hostDetailSchema).describe(
    'A host of the session enters maintenance, leaves it, or fails.',
  ),
  'maintenance.session': envelopeOf('maintenance.session', sessionDetailSchema).describe(
    'The session entered a new state.',
  ),
} as const;
export type DetailType = keyof typeof EVENT_SCHEMAS;

/**
 * The JSON Schema of an event type: draft 2020-12 for docs/events/, draft 4 for the EventBridge
 * schema registry (the only JSON Schema draft it takes).
 */
export const eventJsonSchema = (
  detailType: DetailType,
  target: 'draft-2020-12' | 'draft-4' = 'draft-2020-12',
): Record<string, unknown> => ({
  ...z.toJSONSchema(EVENT_SCHEMAS[detailType], { target, io: 'output' }),
  title: `Fenix ${detailType} event`,
});
