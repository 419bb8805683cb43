import type { DownloadEntry, DownloadRecord } from './downloads.js';
import type { ActionPlugin, SessionPolicy } from './schemas.js';
import type { HostType, InstanceAction, RoundState, SessionState } from './states.js';

/** What the store keeps about a session (one item; nothing in it grows with instances or projects). */
export interface Session {
  session_id: string;
  state: SessionState;
  previous_state?: SessionState;
  workflow: string;
  /** ISO 8601 UTC. */
  maintenance_at: string;
  metadata: Record<string, unknown>;
  /** The `download` entries as asked (names filled in); fetched before the first notification. */
  download?: DownloadEntry[];
  /** What became of each download (same order), once the download step ran. */
  downloads?: DownloadRecord[];
  actions: ActionPlugin[];
  /** How projects that do not answer are treated (defaults filled at create; absent on older sessions). */
  policy?: SessionPolicy;
  /** When the session first listed the instances on its hosts (until then a project GET is 409 not_ready). */
  discovered_at?: string;
  host_count: number;
  created_at: string;
  updated_at: string;
  /** Name of the Step Functions execution now running the session (`<id>`, then `<id>-r<n>` on resume). */
  execution_name: string;
  /** Last allocated event sequence number (events carry `event_seq`). */
  event_seq: number;
  /** Sequence number of the latest reply round, 0 before the first. */
  round_seq: number;
  previous_state_at?: string;
  /** When the session entered its current state (a round opened before that belongs to an earlier step). */
  state_entered_at?: string;
  /** `event_seq` of the `maintenance.session` event of the current state. */
  transition_seq?: number;
  maintained_count?: number;
  scale_in_rounds?: number;
  empty_checks?: number;
  /** How many executions ran this session (resume and continue-as-new start new ones). */
  execution_count?: number;
  /** START_MAINTENANCE's first pass (maintaining every compute that was already empty) is over. */
  first_pass_done?: boolean;
  pre_done?: boolean;
  post_done?: boolean;
  /** How many hosts may be in flight at once, and how many may fail before no new one starts (DESIGN §12). */
  rollout?: Rollout;
  /** Hosts in flight (DRAINING or IN_MAINTENANCE): a DynamoDB string set, added and removed atomically. */
  in_flight?: Set<string>;
  /** Hosts whose maintenance failed in this run (a string set; `continue` retries them). */
  failed_hosts?: Set<string>;
  /** Child executions the last rollout step asked to start (kept until started, so a retried step starts the same). */
  starting?: { host: string; phase: 'host'; execution_name: string }[];
  /** Host rounds whose instances still count against their groups' budgets (impacted or recovering). */
  recent_rounds?: number[];
  /** PLANNED rounds whose moves the rollout follows (handed over once every move was started). */
  draining_rounds?: number[];
  /** The computes the next PLANNED round drains (the rollout picked them). */
  drain_hosts?: string[];
  /** Bumped by whatever the parked execution waits for (a host ending, an instance reply); see rollout.ts. */
  wake_seq?: number;
  /** The task token of the parked execution, if one is parked. */
  wake_token?: string;
  /** Bumped by every fresh execution that resumes the session (restart, continue): children of older epochs are gone. */
  epoch?: number;
  /** Step Functions history events this execution has used, roughly (it hands over before the limit). */
  execution_events?: number;
  /** Why the session failed, when it did. */
  failure?: { reason: string; details?: Record<string, unknown> };
}

export interface Rollout {
  max_parallel_hosts: number;
  max_failed_hosts: number;
}

/** DRAINING: its instances are being moved off; IN_MAINTENANCE: its plug-ins run. Both are "in flight". */
export type HostPhase = 'PENDING' | 'DRAINING' | 'IN_MAINTENANCE' | 'MAINTAINED' | 'FAILED';

export interface SessionHost {
  name: string;
  type: HostType;
  disabled: boolean;
  /** Disabled outside the session when it began (this is why): it stays disabled afterwards. */
  disabled_before?: string;
  maintained: boolean;
  phase?: HostPhase;
  started_at?: string;
  finished_at?: string;
  /** Why a FAILED host failed, or why a PENDING host is held back. */
  blocking_reason?: string;
  /** The session epoch whose execution started this host's child (a restart restarts older ones). */
  epoch?: number;
}

/** One step of a session's history (GET …/detail). */
export interface HistoryEntry {
  at: string;
  /** The `event_seq` the step belongs to. */
  seq: number;
  what: 'state' | 'host' | 'notification' | 'instance_action_done' | 'reply' | 'silent' | 'download';
  state?: string;
  previous_state?: string;
  host?: string;
  project_id?: string;
  instance_ids?: string[];
  reply_at?: string;
  /** For replies: who sent it (the token subject) and what it said. */
  replied_by?: string;
  reply?: string;
  instance_actions?: Record<string, string>;
  reason?: string;
  /** A notification to a project the session does not wait for (non-interacting). */
  informed?: boolean;
}

/** One run of an action plug-in (kept, success or not, for the detail view). */
export interface PluginRun {
  session_id: string;
  host: string;
  plugin: string;
  phase: string;
  state: 'DONE' | 'FAILED';
  message?: string;
  at: string;
}

export interface SessionProject {
  project_id: string;
  instance_count: number;
  /** Whether the session waits for this project's replies (decided when the session first meets it). */
  interacting?: boolean;
  /** The round state in which an interacting project stayed silent (it is non-interacting from then on). */
  silent_in?: RoundState;
}

export interface SessionInstance {
  instance_id: string;
  project_id: string;
  name: string;
  host: string;
  vcpus: number;
  action?: InstanceAction;
  action_done?: boolean;
}

/**
 * An instance action the cloud is carrying out (MIGRATE, LIVE_MIGRATE, EVICTION): what the driver
 * needs to follow it to its end, and where it stands. Kept on the round, so a poll in a later
 * Lambda (or after a restart) picks it up.
 */
export interface CloudAction {
  instance_id: string;
  project_id: string;
  action: 'MIGRATE' | 'LIVE_MIGRATE' | 'EVICTION';
  /** The host the instance was on when the action started. */
  from: string;
  /** The host asked for, when the workflow chose one. */
  target?: string;
  started_at: string;
  status: 'RUNNING' | 'DONE' | 'FAILED';
  /** Where the instance ended up (moves), once DONE. */
  host?: string;
  /** Why it failed, naming the server, the action and the cloud's fault. */
  reason?: string;
  /** INSTANCE_ACTION_DONE went out for it. */
  told?: boolean;
  /** Its failure has failed its host (once). */
  host_failed?: boolean;
  /** The driver's own bookkeeping (e.g. that a resize was already confirmed). */
  driver?: Record<string, string | number | boolean>;
}

export type RoundStatus = 'OPEN' | 'CLOSED';

/** One notification round: the workflow waits for every expected project to answer. */
export interface Round {
  session_id: string;
  seq: number;
  state: RoundState;
  /** The host being emptied, for PREPARE/PLANNED rounds (the first of `hosts`). */
  host?: string;
  /** Every host the round empties (a rollout drains several at once). */
  hosts?: string[];
  status: RoundStatus;
  /** How the round ended: every project ACKed, one NACKed, or the deadline passed. */
  outcome?: 'ACK' | 'NACK' | 'TIMEOUT';
  /** Members the round waits for; `informed_count` more (non-interacting projects) are only notified. */
  expected_count: number;
  informed_count?: number;
  opened_at: string;
  /** ISO 8601 reply deadline (also sent as `reply_at`). */
  deadline: string;
  /** `actions_at` sent to projects. */
  actions_at: string;
  /** The Step Functions task token that is waiting on this round (absent until the wait starts). */
  token?: string;
  /** First `event_seq` of this round's notifications (one per expected project, in project order). */
  first_event_seq?: number;
  /** The instance actions carried out on the round's host, by instance id (PREPARE/PLANNED). */
  actions?: Record<string, CloudAction>;
  /** Each instance to move off the round's hosts and where it stands (paced by its group's budget). */
  instances?: Record<string, InstanceStep>;
}

/**
 * One instance of a host round: its group and budget, when it was notified (`vnf`) and until when its
 * owner may answer, which action it gets and when that was done. An instance is impacted from its
 * notification (or its action's start) until `done_at` + its group's recovery time.
 */
export interface InstanceStep {
  instance_id: string;
  project_id: string;
  host: string;
  group_id: string;
  /** Its group's budget and recovery, read once when the round began. */
  max_impacted: number;
  recovery_seconds: number;
  lead_seconds: number;
  /** What the engine does when nobody says otherwise (the constraint's migration_type or the policy's default). */
  default_action: InstanceAction;
  /** The owner is asked per instance (`vnf`, interacting project). */
  ask: boolean;
  /** Its group limits placement: targets are checked against the other members. */
  placement?: boolean;
  notified_at?: string;
  reply_at?: string;
  event_seq?: number;
  action?: InstanceAction;
  started_at?: string;
  done_at?: string;
}

/** INFORMED: a non-interacting project, notified but not waited for (its instances get the default action). */
export type MembershipStatus = 'EXPECTED' | 'REPLIED' | 'SILENT' | 'INFORMED';

/**
 * One project's part in a round: exactly one of the reply and the deadline moves an EXPECTED member
 * out of EXPECTED; an INFORMED member never changes.
 */
export interface RoundMember {
  session_id: string;
  seq: number;
  project_id: string;
  status: MembershipStatus;
  /** Position of the project in the round (its notification's `event_seq` = first_event_seq + index). */
  index: number;
  reply_state?: string;
  instance_actions?: Record<string, InstanceAction>;
  replied_at?: string;
  replied_by?: string;
  /** A per-instance reply (`vnf`): the instance it answers for. */
  instance_id?: string;
  /** Host rounds: the project's instances on the round's hosts when it opened (what its GET lists). */
  instance_ids?: string[];
}

/** A host of the (simulated or real) cloud, as the driver reports it. */
export interface CloudHost {
  name: string;
  type: HostType;
  vcpus: number;
  used_vcpus: number;
  disabled: boolean;
  /** Why it is disabled (Nova's `disabled_reason`; ours is `fenix maintenance <session_id>`). */
  disabled_reason?: string;
  /** Enabled again after a Fenix maintenance (the simulated cloud keeps it; a real cloud cannot know). */
  maintained: boolean;
}

export interface CloudInstance {
  id: string;
  name: string;
  project_id: string;
  host: string;
  vcpus: number;
}
