import type { EventPattern } from './event-pattern.js';
import type { FenixEvent } from './events.js';
import type {
  CloudAction,
  CloudHost,
  CloudInstance,
  HistoryEntry,
  InstanceStep,
  PluginRun,
  Round,
  RoundMember,
  Session,
  SessionHost,
  SessionInstance,
  SessionProject,
} from './model.js';
import type { InstanceAction } from './states.js';

/** Persistence of sessions and everything that hangs off them: one port an aggregate, all of them together. */
export type SessionStore = SessionRecords & InventoryRecords & HistoryRecords & RoundRecords;

/** The session item, its counters and event numbers, host locks, Idempotency-Keys, and the session as a whole. */
export interface SessionRecords {
  /** Takes `host → session` locks; all or none. Throws ConflictError naming a busy host. */
  lockHosts(sessionId: string, hosts: string[]): Promise<void>;
  releaseHosts(sessionId: string, hosts: string[]): Promise<void>;
  createSession(session: Session, hosts: SessionHost[]): Promise<void>;
  /**
   * Claims an Idempotency-Key for a request (by its hash). Answers `claimed`, or what an earlier
   * request with the same key recorded: its hash and, once it finished, the session it created.
   */
  claimIdempotencyKey(
    key: string,
    requestHash: string,
  ): Promise<{ claimed: true } | { claimed: false; requestHash: string; sessionId?: string }>;
  completeIdempotencyKey(key: string, sessionId: string): Promise<void>;
  releaseIdempotencyKey(key: string): Promise<void>;
  getSession(sessionId: string): Promise<Session | undefined>;
  listSessionIds(): Promise<string[]>;
  /** Session ids not DONE/FAILED (Query on the sparse active index). */
  listActiveSessionIds(): Promise<string[]>;
  updateSession(sessionId: string, changes: Partial<Session>, expectedState?: Session['state']): Promise<Session>;
  /** Atomically reserves `count` event sequence numbers; returns the first. */
  allocateEventSeq(sessionId: string, count: number): Promise<number>;
  /**
   * Moves the session to `to` and stamps the step with a new `event_seq` (one UpdateItem). When the
   * session is already in `to` (a retried step) nothing changes and the stamped seq is returned again,
   * unless `reenter` asks for a new step in the same state (SCALE_IN after SCALE_IN).
   */
  transition(
    sessionId: string,
    to: Session['state'],
    changes?: Partial<Session>,
    options?: { reenter?: boolean },
  ): Promise<{ session: Session; previous: Session['state'] | null; seq: number }>;
  /** Atomically adds `by` to a numeric session field; returns the new value. */
  increment(
    sessionId: string,
    field: 'scale_in_rounds' | 'empty_checks' | 'maintained_count' | 'execution_events',
    by?: number,
  ): Promise<number>;
  /**
   * Bumps the session's wake counter (and, for a host that ends, takes it out of the hosts in flight
   * and counts it maintained) in one write; answers the parked execution's task token, if any.
   */
  bumpWake(sessionId: string, freed?: { host: string; maintained: boolean }): Promise<string | undefined>;
  /** Atomically adds hosts to, or removes them from, one of the session's host sets. */
  changeHostSet(
    sessionId: string,
    field: 'in_flight' | 'failed_hosts',
    change: 'add' | 'delete',
    hosts: string[],
  ): Promise<void>;
  /**
   * Returns the first `event_seq` recorded under `field` of a host or round item, reserving `count`
   * new ones on the first call: the outbox that makes a retried step re-send the same events.
   */
  stampEventSeq(
    sessionId: string,
    item: { host: string } | { round: number },
    field: string,
    count?: number,
  ): Promise<number>;
  /** Removes every record of the session. */
  deleteSession(sessionId: string): Promise<void>;
}

/** What a session works on: its hosts, projects and instances. */
export interface InventoryRecords {
  listHosts(sessionId: string): Promise<SessionHost[]>;
  getHost(sessionId: string, name: string): Promise<SessionHost | undefined>;
  /** The first host of `type` (by name) not yet maintained — one small Query, whatever the session size. */
  firstPendingHost(sessionId: string, type: SessionHost['type']): Promise<string | undefined>;
  /** Up to `limit` hosts of `type` not yet maintained, by name (one Query). */
  pendingHosts(sessionId: string, type: SessionHost['type'], limit: number): Promise<string[]>;
  updateHost(sessionId: string, name: string, changes: Partial<SessionHost>): Promise<void>;

  /** Host item: PENDING → ... ; `maintained` false → true happens once (returns whether this call did it). */
  markHostMaintained(sessionId: string, name: string): Promise<boolean>;

  putInstances(sessionId: string, instances: SessionInstance[]): Promise<void>;
  deleteInstances(sessionId: string, instances: SessionInstance[]): Promise<void>;
  listInstances(sessionId: string): Promise<SessionInstance[]>;
  updateInstance(
    sessionId: string,
    projectId: string,
    instanceId: string,
    changes: Partial<SessionInstance>,
  ): Promise<void>;
  putProjects(sessionId: string, projects: SessionProject[]): Promise<void>;
  updateProject(sessionId: string, projectId: string, changes: Partial<SessionProject>): Promise<void>;
  listProjects(sessionId: string): Promise<SessionProject[]>;
  getProject(sessionId: string, projectId: string): Promise<SessionProject | undefined>;
  listProjectInstances(sessionId: string, projectId: string): Promise<SessionInstance[]>;
  /** The project's session instances among `instanceIds` (one batch read; unknown ids are left out). */
  getProjectInstances(sessionId: string, projectId: string, instanceIds: string[]): Promise<SessionInstance[]>;
}

/** What a session did: history entries and plug-in runs. */
export interface HistoryRecords {
  putHistory(entries: { session_id: string; key: string; entry: HistoryEntry }[]): Promise<void>;
  /** A page of a session's list (history, instances), in key order; `next` continues it. */
  page<T>(
    sessionId: string,
    list: 'history' | 'instances',
    limit: number,
    next?: string,
  ): Promise<{ items: T[]; next?: string }>;
  putPluginRun(run: PluginRun): Promise<void>;
  listPluginRuns(sessionId: string): Promise<PluginRun[]>;
}

/** Reply rounds and their members. */
export interface RoundRecords {
  /**
   * Creates round `seq` (conditional: fails with ConflictError if it exists) with its members: the
   * projects it waits for (EXPECTED), then those it only informs (INFORMED), indexed in that order.
   */
  createRound(
    round: Round,
    projectIds: string[],
    informedIds?: string[],
    /** For a host round: each member's instances on the round's hosts (what its GET and reply concern). */
    instancesByProject?: Map<string, string[]>,
  ): Promise<void>;
  getRound(sessionId: string, seq: number): Promise<Round | undefined>;
  setRoundToken(sessionId: string, seq: number, token: string, firstEventSeq: number): Promise<Round>;
  /** OPEN → CLOSED with an outcome; false when someone else closed it first. */
  closeRound(sessionId: string, seq: number, outcome: NonNullable<Round['outcome']>): Promise<boolean>;
  listMembers(sessionId: string, seq: number): Promise<RoundMember[]>;
  getMember(sessionId: string, seq: number, projectId: string): Promise<RoundMember | undefined>;
  /** EXPECTED → REPLIED (before the deadline); returns false when the member was no longer EXPECTED. */
  recordReply(member: RoundMember, deadline: string, now: string): Promise<boolean>;
  /** Files a per-instance reply (`vnf`) as a REPLIED member item; false when one is already filed. */
  recordInstanceReply(member: RoundMember & { instance_id: string }): Promise<boolean>;
  /**
   * Records the default actions for a member that did not reply (INFORMED or SILENT); the first
   * record stands, so a retried step carries out the same actions.
   */
  setDefaultActions(
    sessionId: string,
    seq: number,
    projectId: string,
    actions: Record<string, InstanceAction>,
  ): Promise<void>;
  /** EXPECTED → SILENT; false when the project replied first. */
  markSilent(sessionId: string, seq: number, projectId: string): Promise<boolean>;
  /** Replaces the round's instance actions and steps (only the workflow writes them, one step at a time). */
  setRoundProgress(
    sessionId: string,
    seq: number,
    progress: { actions?: Record<string, CloudAction>; instances?: Record<string, InstanceStep> },
  ): Promise<void>;
}

export interface EventPublisher {
  publish(events: FenixEvent[]): Promise<void>;
}

/** The Step Functions side, as the API needs it. */
export interface WorkflowEngine {
  start(sessionId: string, executionName: string, input: Record<string, unknown>): Promise<void>;
  stop(executionName: string, cause: string): Promise<void>;
  /** Resumes a waiting task; false when the token is no longer valid (task closed). */
  succeedTask(token: string, output: Record<string, unknown>): Promise<boolean>;
}

/**
 * The event patterns of the subscriptions that deliver Fenix's notifications: the enabled rules on
 * the fenix bus (locally, the `FENIX_SUBSCRIPTIONS` entries). A project is interacting when one of
 * them matches its `maintenance.scheduled` event.
 */
export interface SubscriptionRules {
  listPatterns(): Promise<EventPattern[]>;
}

/** What an action's progress is, as the cloud reports it on a poll. */
export type ActionProgress =
  | { status: 'RUNNING'; driver?: CloudAction['driver'] }
  | { status: 'DONE'; host?: string }
  | { status: 'FAILED'; reason: string };

/**
 * The infrastructure driver port (DESIGN §6, §13): the simulated cloud and OpenStack Nova. Instance
 * actions are asynchronous: `startAction` asks the cloud and returns at once; the workflow then polls
 * with `pollAction` from Step Functions Wait states until DONE or FAILED (never a sleeping Lambda).
 */
export interface CloudDriver {
  listHosts(): Promise<CloudHost[]>;
  getHosts(names: string[]): Promise<(CloudHost | undefined)[]>;
  getHost(name: string): Promise<CloudHost | undefined>;
  /** Every instance on the host, whatever its project or status (an empty list = an empty host). */
  listInstancesOnHost(host: string): Promise<CloudInstance[]>;
  listInstances(projectId?: string): Promise<CloudInstance[]>;
  getInstance(id: string): Promise<CloudInstance | undefined>;
  /**
   * Disables the host with `reason` (`fenix maintenance <session_id>`) so nothing new lands on it.
   * A host already disabled keeps its state and reason: answers whether this call disabled it.
   */
  disableHost(name: string, reason: string): Promise<boolean>;
  /** Enables the host only when it is disabled with `reason` (ours); answers whether it did. */
  enableHost(name: string, reason: string): Promise<boolean>;
  /**
   * Starts MIGRATE or LIVE_MIGRATE (to `target`, or where the cloud chooses) or EVICTION of an
   * instance. Throws when the cloud refuses at once (ConflictError when the target has no room).
   */
  startAction(
    instance: CloudInstance,
    action: CloudAction['action'],
    target?: string,
  ): Promise<Pick<CloudAction, 'target' | 'driver'>>;
  pollAction(action: CloudAction): Promise<ActionProgress>;
}

/**
 * Where downloaded artefacts are kept (§11): a folder locally, a private S3 bucket in AWS. Keys are
 * `<session_id>/<name>`; nothing here ever runs what it stores.
 */
export interface ArtifactStore {
  /** Streams `body` to `<sessionId>/<name>` (never whole in memory); answers where it now is. */
  write(sessionId: string, name: string, body: NodeJS.ReadableStream): Promise<string>;
  /** Removes everything stored for the session (idempotent). */
  removeSession(sessionId: string): Promise<void>;
}

export interface Clock {
  now(): Date;
}
