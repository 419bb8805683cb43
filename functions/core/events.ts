import type { RoundState, SessionState } from './states.js';

/** The three event types of DESIGN §5 (contract). Every event carries `service` and `event_seq`. */
export const EVENT_SOURCE = 'fenix';

export interface ScheduledDetail {
  service: 'fenix';
  session_id: string;
  project_id: string;
  state: RoundState | 'INSTANCE_ACTION_DONE';
  /** URL of the project GET, or a one-id list for INSTANCE_ACTION_DONE. */
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
  state: 'IN_MAINTENANCE' | 'MAINTENANCE_COMPLETE';
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
