import type { Deps } from './deps.js';
import { publish } from './history.js';
import type { CloudInstance, InstanceStep, Rollout, Round, Session, SessionHost } from './model.js';
import { projectPolicy } from './policy.js';
import type { InstanceAction } from './states.js';
import { failSession } from './transitions.js';

/**
 * The rollout (DESIGN §12): which hosts are in flight, which may start, and how the parked session
 * execution learns that something changed. The session execution drains hosts (PLANNED rounds,
 * several hosts at once) and starts one child execution per emptied host; children run on their own
 * and, when they end, wake the parent, which then fills the freed slot at once.
 */

export const DEFAULT_ROLLOUT: Rollout = { max_parallel_hosts: 1, max_failed_hosts: 0 };
export const rolloutOf = (session: Pick<Session, 'rollout'>): Rollout => ({ ...DEFAULT_ROLLOUT, ...session.rollout });

export const hostSet = (set: Iterable<string> | undefined): Set<string> => new Set(set ?? []);

// ---------------------------------------------------------------- waking the parked execution

/**
 * Something the parked session execution waits for happened (a host ended, an instance reply came).
 * One write bumps the counter and reads back the stored token; the waiter stores its token first,
 * then reads the counter, so at least one of the two sees the other and the execution never sleeps
 * through a change. A token already used is refused by Step Functions and ignored here.
 */
export const wake = async (
  sessionId: string,
  deps: Pick<Deps, 'store' | 'engine'>,
  freed?: { host: string; maintained: boolean },
): Promise<void> => {
  const token = await deps.store.bumpWake(sessionId, freed);
  if (token) await deps.engine.succeedTask(token, { woken: true });
};

/** Parks the execution on `token` until `wake` (or the state's timeout); at once if woken since `seen`. */
export const awaitWake = async (
  sessionId: string,
  token: string,
  seen: number,
  deps: Pick<Deps, 'store' | 'engine'>,
): Promise<void> => {
  const session = await deps.store.updateSession(sessionId, { wake_token: token });
  if ((session.wake_seq ?? 0) !== seen) await deps.engine.succeedTask(token, { woken: true });
};

// ---------------------------------------------------------------- groups and budgets

/** What the rollout needs to know of an instance's constraints (defaults filled in, DESIGN §12). */
export interface GroupInfo {
  group_id: string;
  group_name: string;
  max_impacted: number;
  recovery_seconds: number;
  lead_seconds: number;
  default_action: InstanceAction;
  /** Its group limits where members may go (anti-affinity or a per-host cap). */
  placement: boolean;
}

/**
 * The group of each instance, from the stored constraints. An instance without a constraint is a
 * group of its own (budget 1, no recovery), with the reply window as lead time and the policy's
 * default action; an instance whose group is not stored has budget 1 in that group.
 */
export const groupsOf = async (
  session: Session,
  instances: Pick<CloudInstance, 'id' | 'project_id'>[],
  deps: Deps,
): Promise<Map<string, GroupInfo>> => {
  const ids = instances.map((instance) => instance.id);
  const constraints = new Map(
    (ids.length ? await deps.constraints.getInstances(ids) : [])
      .filter((c) => c !== undefined)
      .map((c) => [c.instance_id, c]),
  );
  const groupIds = [...new Set([...constraints.values()].map((c) => c.group_id).filter((g) => g !== null))];
  const groups = new Map(
    (groupIds.length ? await deps.constraints.getGroups(groupIds) : [])
      .filter((g) => g !== undefined)
      .map((g) => [g.group_id, g]),
  );
  const window = deps.settings.maintenanceReplySeconds;
  return new Map(
    instances.map((instance) => {
      const constraint = constraints.get(instance.id);
      const group = constraint?.group_id ? groups.get(constraint.group_id) : undefined;
      const info: GroupInfo = {
        group_id: constraint?.group_id ?? `instance:${instance.id}`,
        group_name: group?.group_name || constraint?.group_id || instance.id,
        max_impacted: Math.max(1, group?.max_impacted_members ?? 1),
        recovery_seconds: group?.recovery_time ?? 0,
        lead_seconds: constraint?.lead_time ?? window,
        default_action: constraint?.migration_type ?? projectPolicy(session, instance.project_id).default_action,
        placement: Boolean(group && (group.anti_affinity_group || group.max_instances_per_host > 0)),
      };
      return [instance.id, info];
    }),
  );
};

/** Is the instance impacted at `now`: notified or acting, or done less than its recovery time ago. */
export const isImpacted = (step: InstanceStep, now: number): boolean => {
  if (!step.notified_at && !step.started_at) return false;
  if (!step.done_at) return true;
  return Date.parse(step.done_at) + step.recovery_seconds * 1000 > now;
};

/** Members of each group impacted at `now` among `steps`. */
export const impactedByGroup = (steps: Iterable<InstanceStep>, now: number): Map<string, number> => {
  const counts = new Map<string, number>();
  for (const step of steps) if (isImpacted(step, now)) counts.set(step.group_id, (counts.get(step.group_id) ?? 0) + 1);
  return counts;
};

// ---------------------------------------------------------------- host events and failures

export const hostEvent = async (
  sessionId: string,
  host: string,
  state: 'IN_MAINTENANCE' | 'MAINTENANCE_COMPLETE' | 'MAINTENANCE_FAILED',
  deps: Deps,
  reason?: string,
) => {
  const field = { IN_MAINTENANCE: 'in_seq', MAINTENANCE_COMPLETE: 'complete_seq', MAINTENANCE_FAILED: 'failed_seq' }[
    state
  ];
  const seq = await deps.store.stampEventSeq(sessionId, { host }, field);
  await publish(
    [
      {
        detailType: 'maintenance.host',
        detail: { service: 'fenix', session_id: sessionId, host, state, event_seq: seq },
      },
    ],
    deps,
    reason ? { reason } : undefined,
  );
};

/**
 * A host failed (a plug-in, or an action moving an instance off it): it stays disabled, leaves the
 * hosts in flight for the failed ones, and its owners hear `maintenance.host` MAINTENANCE_FAILED.
 * The rollout decides whether others still start (max_failed_hosts).
 */
export const markHostFailed = async (sessionId: string, host: string, reason: string, deps: Deps): Promise<void> => {
  await deps.store.updateHost(sessionId, host, {
    phase: 'FAILED',
    blocking_reason: reason,
    finished_at: deps.clock.now().toISOString(),
  });
  await deps.store.changeHostSet(sessionId, 'failed_hosts', 'add', [host]);
  await deps.store.changeHostSet(sessionId, 'in_flight', 'delete', [host]);
  await hostEvent(sessionId, host, 'MAINTENANCE_FAILED', deps, reason);
};

/** The session fails naming every failed host and why (once no host is in flight any more). */
export const failForHosts = async (session: Session, failed: string[], deps: Deps) => {
  const hosts = (await Promise.all(failed.map((name) => deps.store.getHost(session.session_id, name)))).filter(
    (host): host is SessionHost => host !== undefined,
  );
  const { max_failed_hosts } = rolloutOf(session);
  const why = hosts.map((host) => `${host.name}: ${host.blocking_reason ?? 'failed'}`).join('; ');
  return failSession(
    session.session_id,
    `${hosts.length} host${hosts.length === 1 ? '' : 's'} failed (max_failed_hosts ${max_failed_hosts}): ${why}`,
    deps,
    { failed_hosts: hosts.map((host) => host.name) },
  );
};

// ---------------------------------------------------------------- choosing what starts

/**
 * The instances of the recent host rounds that still count against their groups (impacted, or
 * recovering). The rounds are remembered on the session from one pick to the next — the latest round
 * joins them here, since every new round is opened after a pick — and dropped once nothing in them
 * is impacted any more.
 */
const lastRoundSteps = async (session: Session, deps: Deps): Promise<InstanceStep[]> => {
  const seqs = [...new Set([...(session.recent_rounds ?? []), session.round_seq])].filter((seq) => seq > 0);
  const rounds = (await Promise.all(seqs.map((seq) => deps.store.getRound(session.session_id, seq)))).filter(
    (round): round is Round => round !== undefined,
  );
  const now = deps.clock.now().getTime();
  const live = rounds.filter((round) => Object.values(round.instances ?? {}).some((step) => isImpacted(step, now)));
  const keep = live.map((round) => round.seq);
  if (keep.join() !== (session.recent_rounds ?? []).join())
    await deps.store.updateSession(session.session_id, { recent_rounds: keep });
  return live.flatMap((round) => Object.values(round.instances ?? {}));
};

export interface Candidate {
  name: string;
  instances: CloudInstance[];
}

/**
 * Picks, in name order, the pending computes that may start draining now (DESIGN §12): at most
 * `slots`, each only if its instances fit in the free vCPUs of the enabled computes (less what the
 * hosts picked before it take) and if it keeps every group within its budget together with the
 * members still impacted. A host holding more members of a group than the budget may start when no
 * other member of that group is impacted (its actions are then paced). Candidates are read a few
 * at a time, only as far as needed. Returns the picks and, for every host held back, why.
 */
export const pickHostsToDrain = async (
  session: Session,
  names: string[],
  slots: number,
  deps: Deps,
): Promise<{ picked: Candidate[]; held: Map<string, string>; recoveredAt?: number }> => {
  const held = new Map<string, string>();
  const picked: Candidate[] = [];
  if (slots <= 0 || names.length === 0) return { picked, held };
  const cloud = (await deps.cloud.listHosts()).filter((host) => host.type === 'compute' && !host.disabled);
  let free = cloud.reduce((sum, host) => sum + Math.max(0, host.vcpus - host.used_vcpus), 0);
  const now = deps.clock.now().getTime();
  const recent = await lastRoundSteps(session, deps);
  const impacted = impactedByGroup(recent, now);
  // When the members done but still recovering free their groups' budgets again.
  const recovering = recent
    .filter((step) => step.done_at && isImpacted(step, now))
    .map((step) => Date.parse(step.done_at as string) + step.recovery_seconds * 1000);
  let heldByRecovery = false;
  let next = 0;
  while (picked.length < slots && next < names.length) {
    const batch = names.slice(next, next + slots - picked.length);
    next += batch.length;
    const candidates = await Promise.all(
      batch.map(async (name) => ({ name, instances: await deps.cloud.listInstancesOnHost(name) })),
    );
    const groups = await groupsOf(
      session,
      candidates.flatMap((c) => c.instances),
      deps,
    );
    for (const candidate of candidates) {
      if (picked.length >= slots) break;
      const need = candidate.instances.reduce((sum, instance) => sum + instance.vcpus, 0);
      if (need > free) {
        held.set(
          candidate.name,
          `held back: its instances need ${need} vCPUs and the enabled computes have ${free} free`,
        );
        continue;
      }
      const members = new Map<string, { info: GroupInfo; count: number }>();
      for (const instance of candidate.instances) {
        const info = groups.get(instance.id);
        if (!info) continue;
        const entry = members.get(info.group_id) ?? { info, count: 0 };
        entry.count += 1;
        members.set(info.group_id, entry);
      }
      const over = [...members.values()].find(
        ({ info, count }) =>
          (impacted.get(info.group_id) ?? 0) > 0 && (impacted.get(info.group_id) ?? 0) + count > info.max_impacted,
      );
      if (over) {
        heldByRecovery ||= recovering.length > 0;
        const used = impacted.get(over.info.group_id) ?? 0;
        held.set(
          candidate.name,
          `held back: group ${over.info.group_name} has ${used} of max_impacted_members ${over.info.max_impacted} impacted`,
        );
        continue;
      }
      picked.push(candidate);
      free -= need;
      for (const { info, count } of members.values())
        impacted.set(info.group_id, (impacted.get(info.group_id) ?? 0) + count);
    }
  }
  return { picked, held, ...(heldByRecovery ? { recoveredAt: Math.min(...recovering) } : {}) };
};
