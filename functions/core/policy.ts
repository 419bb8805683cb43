import type { Deps } from './deps.js';
import { type EventPattern, matchesEventPattern } from './event-pattern.js';
import { EVENT_SOURCE } from './events.js';
import type { Session, SessionProject } from './model.js';
import { policySchema, type SessionPolicy } from './schemas.js';
import type { InstanceAction } from './states.js';

/**
 * Tenant policy (DESIGN §11): which projects the session waits for, and what happens to the
 * instances of those it does not. A project is interacting when a subscription would deliver its
 * notifications (or the policy says so); the others are told what happens but never waited for,
 * and each of their instances that must leave a host gets the policy's default action.
 */

/** The defaults the create schema fills in: the one place they are written is `policySchema`. */
const DEFAULT_POLICY: SessionPolicy = policySchema.parse({});

/** The policy of a session (sessions stored before policies existed get the defaults). */
export const sessionPolicy = (session: Pick<Session, 'policy'>): SessionPolicy => session.policy ?? DEFAULT_POLICY;

export interface EffectivePolicy {
  on_no_reply: SessionPolicy['on_no_reply'];
  default_action: SessionPolicy['default_action'] & InstanceAction;
  /** Set only when the policy overrides the detection. */
  interacting?: boolean;
}

/** One project's policy: its overrides over the session's defaults. */
export const projectPolicy = (session: Pick<Session, 'policy'>, projectId: string): EffectivePolicy => {
  const policy = sessionPolicy(session);
  const own = policy.projects[projectId] ?? {};
  return {
    on_no_reply: own.on_no_reply ?? policy.on_no_reply,
    default_action: own.default_action ?? policy.default_action,
    ...(own.interacting !== undefined ? { interacting: own.interacting } : {}),
  };
};

/**
 * The event a subscription is tested against: the project's first notification as it would be sent.
 * `account` and `region` are left out of the patterns: a rule on the fenix bus sees only its events.
 */
const sampleEvent = (session: Session, projectId: string) => ({
  version: '0',
  id: 'sample',
  'detail-type': 'maintenance.scheduled',
  source: EVENT_SOURCE,
  time: session.created_at,
  resources: [],
  detail: {
    service: 'fenix',
    session_id: session.session_id,
    project_id: projectId,
    state: 'MAINTENANCE',
    allowed_actions: [],
    metadata: session.metadata,
    event_seq: 1,
  },
});

const withoutAccountAndRegion = (pattern: EventPattern): EventPattern => {
  const { account: _account, region: _region, ...rest } = pattern;
  return rest;
};

/**
 * Decides, for projects the session meets for the first time, whether they interact: the policy's
 * override, else whether a subscription's pattern matches the project's notification. The
 * subscriptions are read only when some project needs the detection.
 */
const detectInteracting = async (
  session: Session,
  projectIds: string[],
  deps: Pick<Deps, 'subscriptions'>,
): Promise<Map<string, boolean>> => {
  const decided = new Map<string, boolean>();
  const undecided: string[] = [];
  for (const projectId of projectIds) {
    const override = projectPolicy(session, projectId).interacting;
    if (override === undefined) undecided.push(projectId);
    else decided.set(projectId, override);
  }
  if (undecided.length === 0) return decided;
  const patterns = (await deps.subscriptions.listPatterns()).map(withoutAccountAndRegion);
  for (const projectId of undecided) {
    const event = sampleEvent(session, projectId);
    decided.set(
      projectId,
      patterns.some((pattern) => {
        try {
          return matchesEventPattern(pattern, event);
        } catch {
          return false; // a pattern we cannot compile delivers nothing we can reason about
        }
      }),
    );
  }
  return decided;
};

/** Fills `interacting` on the project items that lack it (the detection runs only if some do). */
export const withInteraction = async (
  session: Session,
  items: SessionProject[],
  deps: Pick<Deps, 'subscriptions'>,
): Promise<SessionProject[]> => {
  const fresh = items.filter((item) => item.interacting === undefined).map((item) => item.project_id);
  if (fresh.length === 0) return items;
  const detected = await detectInteracting(session, fresh, deps);
  return items.map((item) =>
    item.interacting === undefined ? { ...item, interacting: detected.get(item.project_id) ?? false } : item,
  );
};

/**
 * Splits the projects a round concerns into those it waits for and those it only informs. A project
 * not seen before (an instance created since the last refresh) is classified and recorded now.
 */
export const splitByInteraction = async (
  session: Session,
  projectIds: string[],
  deps: Pick<Deps, 'store' | 'subscriptions'>,
): Promise<{ expected: string[]; informed: string[] }> => {
  const known = new Map((await deps.store.listProjects(session.session_id)).map((p) => [p.project_id, p]));
  const unclassified = projectIds.filter((id) => known.get(id)?.interacting === undefined);
  if (unclassified.length > 0) {
    const items = await withInteraction(
      session,
      unclassified.map((projectId) => ({
        ...known.get(projectId),
        project_id: projectId,
        instance_count: known.get(projectId)?.instance_count ?? 0,
      })),
      deps,
    );
    await deps.store.putProjects(session.session_id, items);
    for (const item of items) known.set(item.project_id, item);
  }
  const expected = projectIds.filter((id) => known.get(id)?.interacting === true);
  const informed = projectIds.filter((id) => known.get(id)?.interacting !== true);
  return { expected, informed };
};
