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
  /** `maintained_count` when the current execution started (it hands over after a budget of hosts). */
  execution_base?: number;
  /** START_MAINTENANCE's first pass (maintaining every compute that was already empty) is over. */
  first_pass_done?: boolean;
  pre_done?: boolean;
  post_done?: boolean;
  /** Why the session failed, when it did. */
  failure?: { reason: string; details?: Record<string, unknown> };
}

export type HostPhase = 'PENDING' | 'IN_MAINTENANCE' | 'MAINTAINED' | 'FAILED';

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
  blocking_reason?: string;
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
  /** The driver's own bookkeeping (e.g. that a resize was already confirmed). */
  driver?: Record<string, string | number | boolean>;
}

export type RoundStatus = 'OPEN' | 'CLOSED';

/** One notification round: the workflow waits for every expected project to answer. */
export interface Round {
  session_id: string;
  seq: number;
  state: RoundState;
  /** The host being emptied, for PREPARE/PLANNED rounds. */
  host?: string;
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
