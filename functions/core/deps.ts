import type { ConstraintStore } from './constraints.js';
import type {
  ArtifactStore,
  Clock,
  CloudDriver,
  EventPublisher,
  SessionStore,
  SubscriptionRules,
  WorkflowEngine,
} from './ports.js';

export interface Settings {
  /** Base URL of the API, for `instance_ids` and `reply_url` in notifications. */
  readonly apiBaseUrl: string;
  readonly maintenanceReplySeconds: number;
  readonly scaleInReplySeconds: number;
  /** Installed action plug-ins: name → function to invoke. */
  readonly plugins: Readonly<Record<string, string>>;
  /** `host:port` entries downloads may reach over http or at private addresses. */
  readonly downloadAllow: readonly string[];
  readonly downloadMaxBytes: number;
}

/** Everything a use case may touch, passed in (tests build it from real or in-memory parts). */
export interface Deps {
  store: SessionStore;
  /** Instance and instance-group constraints (DESIGN §12), apart from sessions. */
  constraints: ConstraintStore;
  events: EventPublisher;
  engine: WorkflowEngine;
  cloud: CloudDriver;
  subscriptions: SubscriptionRules;
  artifacts: ArtifactStore;
  clock: Clock;
  settings: Settings;
}
