/**
 * A small typed client for VNFM authors (the "app manager" side of Fenix, DESIGN §3, §5, §6).
 *
 * - `parseMaintenanceEvent(body)` checks an EventBridge envelope POSTed by a rule target (API
 *   destination, the local runtime's FENIX_SUBSCRIPTIONS …) and returns it typed by `detail-type`.
 * - `Deduper` drops redeliveries: EventBridge is at-least-once, and every Fenix event carries a
 *   per-session `event_seq` that stays the same across redeliveries and retried steps.
 * - `FenixClient` reads the affected instances and PUTs the project's reply (or, in the `vnf`
 *   workflow, one instance's reply); it also stores the project's instance and instance-group
 *   constraints (`/v1/instance/{id}`, `/v1/instance_group/{id}`).
 * - `SimClient` acts on the project's own instances in the local simulated cloud (scale in/out,
 *   OWN_ACTION moves).
 *
 * Self-contained on purpose (only zod): copy it into a VNFM as it is.
 */
import { z } from 'zod';

// ---------------------------------------------------------------- events

export const SCHEDULED_STATES = [
  'MAINTENANCE',
  'SCALE_IN',
  'PREPARE_MAINTENANCE',
  'PLANNED_MAINTENANCE',
  'MAINTENANCE_COMPLETE',
  'INSTANCE_ACTION_DONE',
] as const;
export type ScheduledState = (typeof SCHEDULED_STATES)[number];
/** The states a project answers (every scheduled state but INSTANCE_ACTION_DONE). */
export type ReplyState = Exclude<ScheduledState, 'INSTANCE_ACTION_DONE'>;

export const SESSION_STATES = [
  'MAINTENANCE',
  'SCALE_IN',
  'PREPARE_MAINTENANCE',
  'START_MAINTENANCE',
  'PLANNED_MAINTENANCE',
  'MAINTENANCE_COMPLETE',
  'MAINTENANCE_DONE',
  'MAINTENANCE_FAILED',
] as const;
export type SessionState = (typeof SESSION_STATES)[number];

export const INSTANCE_ACTIONS = ['MIGRATE', 'LIVE_MIGRATE', 'OWN_ACTION', 'EVICTION'] as const;
export type InstanceAction = (typeof INSTANCE_ACTIONS)[number];

const text = z.string().min(1);
const seq = z.number().int().nonnegative();

const scheduledDetail = z.object({
  service: z.literal('fenix'),
  session_id: text,
  project_id: text,
  state: z.enum(SCHEDULED_STATES),
  /** The URL of `GET /v1/maintenance/{session}/{project}`, or a one-id list (INSTANCE_ACTION_DONE). */
  instance_ids: z.union([z.url(), z.array(text)]),
  reply_url: z.url(),
  // Strings, not the action enum: a newer engine may offer actions this client does not know yet.
  allowed_actions: z.array(z.string()),
  actions_at: z.string().nullable(),
  reply_at: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()),
  event_seq: seq,
});

const hostDetail = z.object({
  service: z.literal('fenix'),
  session_id: text,
  host: text,
  state: z.enum(['IN_MAINTENANCE', 'MAINTENANCE_COMPLETE', 'MAINTENANCE_FAILED']),
  event_seq: seq,
});

const sessionDetail = z.object({
  service: z.literal('fenix'),
  session_id: text,
  state: z.enum(SESSION_STATES),
  previous_state: z.enum(SESSION_STATES).nullable(),
  percent_done: z.number().min(0).max(100),
  event_seq: seq,
});

const envelope = z.object({
  version: z.string(),
  id: text,
  source: z.literal('fenix'),
  time: z.string(),
  region: z.string(),
  account: z.string(),
  resources: z.array(z.string()),
});

const maintenanceEvent = z.discriminatedUnion('detail-type', [
  envelope.extend({ 'detail-type': z.literal('maintenance.scheduled'), detail: scheduledDetail }),
  envelope.extend({ 'detail-type': z.literal('maintenance.host'), detail: hostDetail }),
  envelope.extend({ 'detail-type': z.literal('maintenance.session'), detail: sessionDetail }),
]);

export type MaintenanceEvent = z.infer<typeof maintenanceEvent>;
export type ScheduledEvent = Extract<MaintenanceEvent, { 'detail-type': 'maintenance.scheduled' }>;
export type HostEvent = Extract<MaintenanceEvent, { 'detail-type': 'maintenance.host' }>;
export type SessionEvent = Extract<MaintenanceEvent, { 'detail-type': 'maintenance.session' }>;
export type ScheduledDetail = ScheduledEvent['detail'];
export type HostDetail = HostEvent['detail'];
export type SessionDetail = SessionEvent['detail'];

export const DETAIL_TYPES = ['maintenance.scheduled', 'maintenance.host', 'maintenance.session'] as const;

/** Thrown by `parseMaintenanceEvent`; `issues` lists every problem as "path: message". */
export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError';
  constructor(readonly issues: string[]) {
    super(`not a Fenix maintenance event: ${issues.join('; ')}`);
  }
}

/**
 * Validates an EventBridge envelope carrying a Fenix event and returns it typed: narrow on
 * `event['detail-type']` to get the matching `detail`. Unknown fields are dropped, so an engine that
 * adds fields does not break the VNFM. Throws `InvalidEventError` naming each bad field.
 */
export const parseMaintenanceEvent = (body: unknown): MaintenanceEvent => {
  const raw = typeof body === 'string' ? parseJson(body) : body;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InvalidEventError([
      `expected a JSON object (an EventBridge envelope), got ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw}`,
    ]);
  }
  const detailType = (raw as Record<string, unknown>)['detail-type'];
  if (!DETAIL_TYPES.includes(detailType as (typeof DETAIL_TYPES)[number])) {
    throw new InvalidEventError([
      `detail-type: expected one of ${DETAIL_TYPES.join(', ')}, got ${JSON.stringify(detailType) ?? 'nothing'}`,
    ]);
  }
  const result = maintenanceEvent.safeParse(raw);
  if (!result.success) {
    throw new InvalidEventError(
      result.error.issues.map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`),
    );
  }
  return result.data;
};

const parseJson = (body: string): unknown => {
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new InvalidEventError([`body is not JSON (${error instanceof Error ? error.message : String(error)})`]);
  }
};

/** Remembers `(session_id, event_seq)` pairs: `firstTime` answers true once per pair. */
export class Deduper {
  private readonly seen = new Map<string, Set<number>>();

  /** True the first time this event is seen (and records it), false for a repeat. */
  firstTime(event: { detail: { session_id: string; event_seq: number } }): boolean {
    const { session_id: session, event_seq: seq } = event.detail;
    const seqs = this.seen.get(session) ?? new Set<number>();
    this.seen.set(session, seqs);
    if (seqs.has(seq)) return false;
    seqs.add(seq);
    return true;
  }

  has(sessionId: string, eventSeq: number): boolean {
    return this.seen.get(sessionId)?.has(eventSeq) ?? false;
  }

  /** Forgets a session (e.g. once it is DONE or deleted), so memory does not grow forever. */
  forget(sessionId: string): void {
    this.seen.delete(sessionId);
  }

  get size(): number {
    let size = 0;
    for (const seqs of this.seen.values()) size += seqs.size;
    return size;
  }
}

/**
 * A per-instance event of the `vnf` workflow (PREPARE/PLANNED_MAINTENANCE about one instance):
 * `instance_ids` is a one-id list and `reply_url` ends with that id. Answers the id, or undefined
 * for a project-wide event.
 */
export const instanceOfEvent = (event: ScheduledEvent | ScheduledDetail): string | undefined => {
  const detail = 'detail' in event ? event.detail : event;
  if (detail.state !== 'PREPARE_MAINTENANCE' && detail.state !== 'PLANNED_MAINTENANCE') return undefined;
  if (!Array.isArray(detail.instance_ids) || detail.instance_ids.length !== 1) return undefined;
  const [id] = detail.instance_ids as [string];
  return new URL(detail.reply_url).pathname.endsWith(`/${encodeURIComponent(id)}`) ? id : undefined;
};

// ---------------------------------------------------------------- constraints (ETSI FEAT03)

/** What Fenix stores for an instance (`GET /v1/instance/{id}`); null fields take the session's defaults. */
export interface InstanceConstraint {
  instance_id: string;
  project_id: string;
  /** The group whose rules it keeps; null: a group of its own. */
  group_id: string | null;
  instance_name: string;
  max_interruption_time: number | null;
  /** What Fenix does for it when the project does not answer; null: the session policy's default_action. */
  migration_type: InstanceAction | null;
  resource_mitigation: boolean;
  /** Seconds of notice before its action; null: the maintenance reply window. */
  lead_time: number | null;
}

/** What Fenix stores for an instance group (`GET /v1/instance_group/{id}`). */
export interface InstanceGroupConstraint {
  group_id: string;
  project_id: string;
  group_name: string;
  /** Members on different hosts. */
  anti_affinity_group: boolean;
  /** At most this many members on one host; 0 = no cap. */
  max_instances_per_host: number;
  /** At most this many members impacted at once (≥ 1). */
  max_impacted_members: number;
  /** Seconds a member stays impacted after its action. */
  recovery_time: number;
  resource_mitigation: boolean;
}

/** A PUT body: every field optional (a PUT replaces the whole object; what is left out takes its default). */
export type InstanceConstraintBody = Partial<InstanceConstraint>;
export type InstanceGroupConstraintBody = Partial<InstanceGroupConstraint>;

/** One instance's reply in the `vnf` workflow. */
export interface InstanceReplyBody {
  instance_action: InstanceAction;
  /** `ACK_<STATE>` or `NACK_<STATE>`, STATE being PREPARE_MAINTENANCE or PLANNED_MAINTENANCE. */
  state: string;
}

// ---------------------------------------------------------------- HTTP

/** A 4xx from the API (or a 5xx after the retries): the status and the API's `{error, message}`. */
export class FenixApiError extends Error {
  override readonly name = 'FenixApiError';
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    /** The API's short error code (`error`), when it sent one. */
    readonly code: string | undefined,
    readonly apiMessage: string | undefined,
    readonly body: unknown,
  ) {
    super(`${method} ${url} → ${status}${code ? ` ${code}` : ''}${apiMessage ? `: ${apiMessage}` : ''}`);
  }
}

export interface HttpOptions {
  /**
   * Sent as `Authorization: Bearer <token>` when given; a function is asked before each request, so
   * it can hand out a renewed token (Cognito and Keystone tokens expire).
   */
  token?: string | (() => string | Promise<string>);
  /** How the token is sent: `bearer` (default; JWTs) or `keystone` (`X-Auth-Token`, a Fenix with FENIX_AUTH=keystone). */
  tokenType?: 'bearer' | 'keystone';
  /**
   * Retries after a 5xx, 429, 409 `not_ready` (a session still listing its instances) or a network
   * error (default 3), with exponential backoff, waiting at least what `Retry-After` asks.
   */
  retries?: number;
  /** First backoff delay in ms (default 250; then 500, 1000 …). */
  backoffMs?: number;
  /** Per-attempt timeout in ms (default 10 000). */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** Worth another try: the server failed or is busy, or the session is not ready to answer yet. */
const retryable = (error: FenixApiError): boolean =>
  error.status >= 500 || error.status === 429 || (error.status === 409 && error.code === 'not_ready');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class Http {
  constructor(private readonly options: HttpOptions) {}

  /** `retry: false` for calls that are not idempotent (creating, moving): one attempt only. */
  async request<T>(method: string, url: string, body?: unknown, { retry = true } = {}): Promise<T> {
    const { backoffMs = 250, timeoutMs = 10_000 } = this.options;
    const token = typeof this.options.token === 'function' ? await this.options.token() : this.options.token;
    const retries = retry ? (this.options.retries ?? 3) : 0;
    const doFetch = this.options.fetch ?? fetch;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token && this.options.tokenType === 'keystone') headers['x-auth-token'] = token;
    else if (token) headers.authorization = `Bearer ${token}`;
    for (let attempt = 0; ; attempt++) {
      let failure: Error;
      let retryAfterMs = 0;
      try {
        const response = await doFetch(url, {
          method,
          headers,
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          signal: AbortSignal.timeout(timeoutMs),
        });
        const raw = await response.text();
        let parsed: unknown = raw;
        try {
          parsed = raw ? JSON.parse(raw) : undefined;
        } catch {
          // not JSON: keep the text
        }
        if (response.ok) return parsed as T;
        const { error, message } = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as {
          error?: unknown;
          message?: unknown;
        };
        const apiError = new FenixApiError(
          method,
          url,
          response.status,
          typeof error === 'string' ? error : undefined,
          typeof message === 'string'
            ? message
            : typeof parsed === 'string' && parsed
              ? parsed.slice(0, 200)
              : undefined,
          parsed,
        );
        // Other 4xx mean the request itself is wrong or too late: retrying cannot help.
        if (!retryable(apiError)) throw apiError;
        retryAfterMs = Number(response.headers.get('retry-after') ?? 0) * 1000 || 0;
        failure = apiError;
      } catch (error) {
        if (error instanceof FenixApiError && !retryable(error)) throw error;
        failure = error instanceof Error ? error : new Error(String(error));
      }
      if (attempt >= retries) {
        if (failure instanceof FenixApiError) throw failure;
        throw new Error(`${method} ${url} failed after ${attempt + 1} attempts: ${failure.message}`, {
          cause: failure,
        });
      }
      await sleep(Math.max(backoffMs * 2 ** attempt, retryAfterMs));
    }
  }
}

// ---------------------------------------------------------------- Fenix project API

export interface FenixClientOptions extends HttpOptions {
  /** The API base, e.g. http://127.0.0.1:12347 (used for the session calls; events carry full URLs). */
  baseUrl: string;
}

const instanceIdsBody = z.object({ instance_ids: z.array(z.string()) });

/** The project side of the Fenix API: which instances a round concerns, and the reply to it. */
export class FenixClient {
  readonly baseUrl: string;
  private readonly http: Http;

  constructor(options: FenixClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.http = new Http(options);
  }

  /** The instances the event concerns: follows the `instance_ids` URL, or returns the one-id list. */
  async getInstanceIds(event: ScheduledEvent | ScheduledDetail): Promise<string[]> {
    const detail = 'detail' in event ? event.detail : event;
    if (Array.isArray(detail.instance_ids)) return [...detail.instance_ids];
    const body = await this.http.request<unknown>('GET', detail.instance_ids);
    const parsed = instanceIdsBody.safeParse(body);
    if (!parsed.success)
      throw new Error(
        `GET ${detail.instance_ids} answered ${JSON.stringify(body)?.slice(0, 200)}, not {"instance_ids": [...]}`,
      );
    return parsed.data.instance_ids;
  }

  /**
   * PUTs `{"state": "<verdict>_<STATE>", "instance_actions": {...}}` to the event's `reply_url`.
   * `actions` are needed (one per listed instance) for an ACK of PREPARE/PLANNED_MAINTENANCE and
   * must be absent otherwise. A repeat of an accepted reply is harmless (the API answers 200).
   */
  async reply(
    event: ScheduledEvent | ScheduledDetail,
    verdict: 'ACK' | 'NACK',
    actions?: Record<string, InstanceAction>,
  ): Promise<void> {
    const detail = 'detail' in event ? event.detail : event;
    if (detail.state === 'INSTANCE_ACTION_DONE') throw new Error('INSTANCE_ACTION_DONE needs no reply');
    const body: { state: string; instance_actions?: Record<string, InstanceAction> } = {
      state: `${verdict}_${detail.state}`,
    };
    if (actions && Object.keys(actions).length > 0) body.instance_actions = actions;
    await this.http.request('PUT', detail.reply_url, body);
  }

  /**
   * `PUT /v1/maintenance/{session_id}/{project_id}/{instance_id}` (workflow `vnf`):
   * `{"instance_action": "<ACTION>", "state": "ACK_<STATE>"|"NACK_<STATE>"}` about one instance.
   */
  async replyInstance(
    sessionId: string,
    projectId: string,
    instanceId: string,
    body: InstanceReplyBody,
  ): Promise<void> {
    const path = [sessionId, projectId, instanceId].map(encodeURIComponent).join('/');
    await this.http.request('PUT', `${this.baseUrl}/v1/maintenance/${path}`, body);
  }

  /**
   * Answers a per-instance event (see `instanceOfEvent`) on its own `reply_url`: `verdict` and the
   * action wanted for the instance (normally its `migration_type`).
   */
  async replyInstanceEvent(
    event: ScheduledEvent | ScheduledDetail,
    verdict: 'ACK' | 'NACK',
    action: InstanceAction,
  ): Promise<void> {
    const detail = 'detail' in event ? event.detail : event;
    if (instanceOfEvent(detail) === undefined)
      throw new Error(`not a per-instance event (state ${detail.state}, reply_url ${detail.reply_url})`);
    await this.http.request('PUT', detail.reply_url, { instance_action: action, state: `${verdict}_${detail.state}` });
  }

  /** `PUT /v1/instance/{id}`: creates or replaces the instance's constraint (the project's own instance). */
  async putInstanceConstraint(instanceId: string, body: InstanceConstraintBody): Promise<void> {
    await this.http.request('PUT', this.constraintUrl('instance', instanceId), body);
  }

  /** The stored constraint, or undefined when there is none (or it is another project's). */
  async getInstanceConstraint(instanceId: string): Promise<InstanceConstraint | undefined> {
    return this.getOrUndefined(this.constraintUrl('instance', instanceId));
  }

  /** Removes it; answers false when there was none. */
  async deleteInstanceConstraint(instanceId: string): Promise<boolean> {
    return this.deleteIfThere(this.constraintUrl('instance', instanceId));
  }

  /** `PUT /v1/instance_group/{id}`: creates or replaces the group's constraint. */
  async putInstanceGroup(groupId: string, body: InstanceGroupConstraintBody): Promise<void> {
    await this.http.request('PUT', this.constraintUrl('instance_group', groupId), body);
  }

  async getInstanceGroup(groupId: string): Promise<InstanceGroupConstraint | undefined> {
    return this.getOrUndefined(this.constraintUrl('instance_group', groupId));
  }

  /** Removes it (members keep theirs); answers false when there was none. */
  async deleteInstanceGroup(groupId: string): Promise<boolean> {
    return this.deleteIfThere(this.constraintUrl('instance_group', groupId));
  }

  private constraintUrl(kind: 'instance' | 'instance_group', id: string): string {
    return `${this.baseUrl}/v1/${kind}/${encodeURIComponent(id)}`;
  }

  private async getOrUndefined<T>(url: string): Promise<T | undefined> {
    try {
      return await this.http.request<T>('GET', url);
    } catch (error) {
      if (error instanceof FenixApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  private async deleteIfThere(url: string): Promise<boolean> {
    try {
      await this.http.request('DELETE', url);
      return true;
    } catch (error) {
      if (error instanceof FenixApiError && error.status === 404) return false;
      throw error;
    }
  }

  /** `GET /v1/maintenance/{session_id}` → the session's state (admin token). */
  async getSession(sessionId: string): Promise<{ session_id: string; state: SessionState }> {
    return this.http.request('GET', `${this.baseUrl}/v1/maintenance/${encodeURIComponent(sessionId)}`);
  }
}

// ---------------------------------------------------------------- simulated cloud (local only)

export interface SimHost {
  name: string;
  type: 'compute' | 'controller';
  vcpus: number;
  used_vcpus: number;
  disabled: boolean;
  maintained: boolean;
}

export interface SimInstance {
  id: string;
  name: string;
  project_id: string;
  host: string;
  vcpus: number;
}

/**
 * The simulated cloud's API (DESIGN §6): a VNFM's own hands on its instances. Reads and deletes are
 * retried like the Fenix calls; creating and moving are not (a retry could act twice).
 */
export class SimClient {
  readonly baseUrl: string;
  private readonly http: Http;

  constructor(baseUrl: string, options: HttpOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.http = new Http(options);
  }

  async listHosts(): Promise<SimHost[]> {
    return (await this.http.request<{ hosts: SimHost[] }>('GET', `${this.baseUrl}/sim/v1/hosts`)).hosts;
  }

  async listInstances(projectId?: string): Promise<SimInstance[]> {
    const query = projectId === undefined ? '' : `?project_id=${encodeURIComponent(projectId)}`;
    return (await this.http.request<{ instances: SimInstance[] }>('GET', `${this.baseUrl}/sim/v1/instances${query}`))
      .instances;
  }

  /**
   * Creates an instance; without `host` the simulator places it on an enabled compute with room.
   * With `group_id` (a stored group of the project) the group's placement rules hold for it.
   */
  async createInstance(input: {
    name: string;
    project_id: string;
    vcpus: number;
    host?: string;
    group_id?: string;
  }): Promise<SimInstance> {
    return this.http.request('POST', `${this.baseUrl}/sim/v1/instances`, input, { retry: false });
  }

  async deleteInstance(id: string): Promise<void> {
    await this.http.request('DELETE', `${this.baseUrl}/sim/v1/instances/${encodeURIComponent(id)}`);
  }

  /** Moves an instance to `host`, or (without it) to the best enabled host with room. */
  async moveInstance(id: string, host?: string): Promise<SimInstance> {
    return this.http.request(
      'POST',
      `${this.baseUrl}/sim/v1/instances/${encodeURIComponent(id)}/move`,
      host === undefined ? {} : { host },
      {
        retry: false,
      },
    );
  }
}
