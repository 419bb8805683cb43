import { createHash } from 'node:crypto';
import { mapLimit } from './concurrency.js';
import { groupMembersPlaced, placementConflict, placementGroupOf } from './constraints.js';
import type { Deps } from './deps.js';
import { type DownloadRecord, fetchDownload } from './downloads.js';
import { ConflictError } from './errors.js';
import { type FenixEvent, projectUrl } from './events.js';
import { historyKey, publish } from './history.js';
import type {
  CloudAction,
  CloudHost,
  CloudInstance,
  InstanceStep,
  Round,
  RoundMember,
  Session,
  SessionHost,
  SessionInstance,
  SessionProject,
} from './model.js';
import { pickTarget } from './placement.js';
import { projectPolicy, splitByInteraction, withInteraction } from './policy.js';
import type { ActionProgress } from './ports.js';
import {
  failForHosts,
  groupsOf,
  hostEvent,
  hostSet,
  impactedByGroup,
  markHostFailed,
  pickHostsToDrain,
  rolloutOf,
  wake,
} from './rollout.js';
import {
  awaitRound,
  currentRound,
  expireRound,
  lastNotificationSeq,
  openRound,
  roundHosts,
  secondsLeft,
} from './rounds.js';
import type { ActionPlugin } from './schemas.js';
import { disableReason, getSessionOrThrow } from './sessions.js';
import { ALLOWED_ACTIONS, ROUND_STATES, type RoundState, type SessionState } from './states.js';
import { toFenixTime } from './time.js';
import { errorText, failSession, moveTo } from './transitions.js';

/**
 * The default workflow's steps, one function per ASL task (statemachines/session.asl.json and
 * host.asl.json route between them). Every step reads what it needs from the store, never from the
 * execution input, so a fresh execution can resume a session from any persisted state; and every
 * step is safe to run twice (Step Functions tasks are at-least-once).
 */

export interface WorkflowSettings {
  /** SCALE_IN rounds allowed before the session fails (Fenix could loop forever). */
  maxScaleInRounds: number;
  /** How often, and how many times, to check that a host emptied after the instance actions. */
  emptyCheckSeconds: number;
  emptyCheckAttempts: number;
  /** Step Functions history events one execution may use before handing over to a fresh one (AWS allows 25,000). */
  historyEvents: number;
  /** Longest wait between polls of running instance actions, and how long one may take before it fails. */
  actionPollSeconds: number;
  actionTimeoutSeconds: number;
  /** plug-in name → function name or ARN to invoke. */
  plugins: Record<string, string>;
}

export type WorkflowDeps = Deps & { workflow: WorkflowSettings };

export type Step = { next: string } & Record<string, unknown>;

// ---------------------------------------------------------------- the cloud snapshot

const computes = (hosts: SessionHost[]) => hosts.filter((host) => host.type === 'compute');

/**
 * Re-reads which instances sit on the session's computes (Fenix's "refresh"): new instances are
 * added, vanished ones dropped, and every project ever seen keeps its item (it gets MAINTENANCE_COMPLETE).
 */
export const refreshSnapshot = async (sessionId: string, deps: Deps): Promise<SessionInstance[]> => {
  const hosts = computes(await deps.store.listHosts(sessionId));
  const live: CloudInstance[] = [];
  for (const host of hosts) live.push(...(await deps.cloud.listInstancesOnHost(host.name)));
  const before = await deps.store.listInstances(sessionId);
  const known = new Map(before.map((instance) => [instance.instance_id, instance]));
  const liveIds = new Set(live.map((instance) => instance.id));
  // What was asked and done for an instance survives a refresh (the detail view shows it).
  const instances: SessionInstance[] = live.map((instance) => ({
    ...known.get(instance.id),
    instance_id: instance.id,
    project_id: instance.project_id,
    name: instance.name,
    host: instance.host,
    vcpus: instance.vcpus,
  }));
  await deps.store.putInstances(sessionId, instances);
  await deps.store.deleteInstances(
    sessionId,
    before.filter((instance) => !liveIds.has(instance.instance_id)),
  );
  const counts = new Map<string, number>();
  const projects = new Map((await deps.store.listProjects(sessionId)).map((project) => [project.project_id, project]));
  for (const projectId of projects.keys()) counts.set(projectId, 0);
  for (const instance of instances) counts.set(instance.project_id, (counts.get(instance.project_id) ?? 0) + 1);
  // A project met for the first time is classified now: is anyone listening for its notifications?
  const session = await getSessionOrThrow(sessionId, deps);
  await deps.store.putProjects(
    sessionId,
    await withInteraction(
      session,
      [...counts].map(
        ([project_id, instance_count]): SessionProject => ({ ...projects.get(project_id), project_id, instance_count }),
      ),
      deps,
    ),
  );
  if (!session.discovered_at)
    await deps.store.updateSession(sessionId, { discovered_at: deps.clock.now().toISOString() });
  return instances;
};

const projectsWithInstances = (instances: SessionInstance[], host?: string): string[] =>
  [...new Set(instances.filter((i) => !host || i.host === host).map((i) => i.project_id))].sort();

// ---------------------------------------------------------------- downloads

/**
 * Fetches the session's `download` list into the artefact store before anyone is notified or any
 * host touched (DESIGN §11). Downloads already DONE for the same URL are kept, so a retried step or
 * a continued session fetches only what is missing. The first failure fails the session, naming
 * the URL; nothing downloaded is ever run here.
 */
export const fetchDownloads = async (sessionId: string, deps: Deps): Promise<Step> => {
  const current = await getSessionOrThrow(sessionId, deps);
  if (current.state === 'MAINTENANCE_FAILED' || current.state === 'MAINTENANCE_DONE') return { next: current.state };
  const entries = current.download ?? [];
  if (entries.length === 0) return { next: 'CONTINUE' };
  // The session announces MAINTENANCE first (a watcher sees it start), then fetches; entering
  // MAINTENANCE afterwards finds the step already taken and does not announce it twice.
  const session = current.transition_seq === undefined ? await moveTo(sessionId, 'MAINTENANCE', deps) : current;
  const kept = new Map((session.downloads ?? []).filter((r) => r.status === 'DONE').map((r) => [r.name, r]));
  const records: DownloadRecord[] = [];
  for (const entry of entries) {
    const done = kept.get(entry.name);
    const record =
      done && done.url === entry.url
        ? done
        : await fetchDownload(sessionId, entry, deps.artifacts, {
            allow: deps.settings.downloadAllow,
            maxBytes: deps.settings.downloadMaxBytes,
          });
    records.push(record);
    if (record.status === 'FAILED') break;
  }
  await deps.store.updateSession(sessionId, { downloads: records });
  const seq = session.transition_seq ?? 0;
  await deps.store.putHistory(
    records.map((record) => ({
      session_id: sessionId,
      key: historyKey(seq, `download#${record.name}`),
      entry: {
        at: deps.clock.now().toISOString(),
        seq,
        what: 'download' as const,
        reason:
          record.status === 'DONE'
            ? `downloaded ${record.url} as ${record.name} (${record.size} bytes, sha256 ${record.sha256})`
            : (record.error ?? `download of ${record.url} failed`),
      },
    })),
  );
  const failed = records.find((record) => record.status === 'FAILED');
  if (failed) {
    return failSession(sessionId, `download failed: ${failed.error ?? failed.url}`, deps, { url: failed.url });
  }
  return { next: 'CONTINUE' };
};

// ---------------------------------------------------------------- entering a state

/** Opens the round of `state`, or skips it when nobody is concerned. */
const roundStep = async (
  session: Session,
  state: RoundState,
  projects: string[],
  deps: Deps,
  options: { actionsAt?: Date } = {},
): Promise<Step> => {
  if (projects.length === 0) return { next: 'SKIP', round_seq: 0 };
  return openRoundStep(session, state, await splitByInteraction(session, projects, deps), deps, options);
};

/** Opens the round for the projects it waits for and those it informs, and awaits it. */
const openRoundStep = async (
  session: Session,
  state: RoundState,
  { expected, informed }: { expected: string[]; informed: string[] },
  deps: Deps,
  options: { hosts?: string[]; actionsAt?: Date; instancesByProject?: Map<string, string[]> } = {},
): Promise<Step> => {
  const round = await openRound(session, state, expected, deps, { ...options, informed });
  // A round that waits for nobody is already decided; awaiting it sends its notifications and ends at once.
  return { next: 'AWAIT', round_seq: round.seq, timeout_seconds: secondsLeft(round, deps) };
};

/** The compute to empty in PREPARE: the least loaded not yet maintained (Fenix's heuristic, minus floating IPs). */
const hostToEmpty = async (hosts: SessionHost[], deps: Deps) => {
  const candidates = (
    await deps.cloud.getHosts(
      computes(hosts)
        .filter((h) => !h.maintained)
        .map((h) => h.name),
    )
  ).filter((host) => host !== undefined);
  candidates.sort((a, b) => a.used_vcpus - b.used_vcpus || a.name.localeCompare(b.name));
  return candidates[0];
};

/**
 * The computes a PLANNED round drains: those the rollout picked (DESIGN §12), or, when an admin
 * continues a session at PLANNED_MAINTENANCE, the first compute still pending. They are in flight
 * from now on.
 */
const hostsToDrain = async (session: Session, deps: Deps): Promise<string[]> => {
  const sessionId = session.session_id;
  const picked = await Promise.all((session.drain_hosts ?? []).map((name) => deps.store.getHost(sessionId, name)));
  let hosts = picked.filter((h) => h && !h.maintained && h.phase !== 'FAILED').map((h) => (h as SessionHost).name);
  if (hosts.length === 0) {
    const first = await deps.store.firstPendingHost(sessionId, 'compute');
    hosts = first ? [first] : [];
  }
  const now = deps.clock.now().toISOString();
  await mapLimit(hosts, 8, (name) =>
    deps.store.updateHost(sessionId, name, {
      phase: 'DRAINING',
      epoch: undefined,
      blocking_reason: undefined,
      started_at: now,
    }),
  );
  await deps.store.changeHostSet(sessionId, 'in_flight', 'add', hosts);
  return hosts;
};

/**
 * A round this step already opened (a retried task, or an execution resumed after a restart) is
 * taken up again: an open one is waited on for the time left until its stored deadline, a decided
 * one goes straight to its outcome. Nothing is sent twice and no window is reopened.
 */
const resumedRoundStep = async (session: Session, state: SessionState, deps: Deps): Promise<Step | undefined> => {
  if (!(ROUND_STATES as readonly string[]).includes(state)) return undefined;
  const round = await roundOfThisStep(session, state as RoundState, deps);
  if (!round) return undefined;
  // A decided round whose notifications never went out (it waited for nobody) is awaited to send them.
  if (round.status === 'CLOSED' && round.first_event_seq !== undefined)
    return { next: 'SKIP', round_seq: round.seq, ...(round.host ? { host: round.host } : {}) };
  return {
    next: 'AWAIT',
    round_seq: round.seq,
    timeout_seconds: secondsLeft(round, deps),
    ...(round.host ? { host: round.host } : {}),
  };
};

export const enter = async (sessionId: string, state: SessionState, deps: WorkflowDeps): Promise<Step> => {
  const current = await getSessionOrThrow(sessionId, deps);
  if (current.state === 'MAINTENANCE_FAILED' || current.state === 'MAINTENANCE_DONE') return { next: current.state };
  const session =
    current.state === state && current.transition_seq !== undefined ? current : await moveTo(sessionId, state, deps);
  const resumed = await resumedRoundStep(session, state, deps);
  if (resumed) return resumed;
  switch (state) {
    case 'MAINTENANCE': {
      const instances = await refreshSnapshot(sessionId, deps);
      // Projects always get their whole reply window: if downloads or a restart ate into the time
      // before maintenance_at, actions_at moves to the window's end (creation refuses less than one).
      return roundStep(session, state, projectsWithInstances(instances), deps, {
        actionsAt: new Date(session.maintenance_at),
      });
    }
    case 'SCALE_IN': {
      const rounds = await deps.store.increment(sessionId, 'scale_in_rounds');
      if (rounds > deps.workflow.maxScaleInRounds) {
        return failSession(
          sessionId,
          `SCALE_IN: no compute could be emptied after ${deps.workflow.maxScaleInRounds} SCALE_IN rounds: ${await noRoom(sessionId, deps)}`,
          deps,
        );
      }
      const projects = (await deps.store.listProjects(sessionId))
        .filter((p) => p.instance_count > 0)
        .map((p) => p.project_id);
      if (projects.length === 0) return roundStep(session, state, projects, deps);
      // Only an interacting project can scale in: with none, another round cannot make room.
      const split = await splitByInteraction(session, projects, deps);
      if (split.expected.length === 0) {
        return failSession(
          sessionId,
          `SCALE_IN: no compute can be emptied (${await noRoom(sessionId, deps)}) and no project that could scale in interacts with this session`,
          deps,
        );
      }
      return openRoundStep(session, state, split, deps, { instancesByProject: await scaleInSizing(session, deps) });
    }
    case 'PREPARE_MAINTENANCE':
    case 'PLANNED_MAINTENANCE': {
      const hosts =
        state === 'PREPARE_MAINTENANCE'
          ? [(await hostToEmpty(await deps.store.listHosts(sessionId), deps))?.name].filter((h) => h !== undefined)
          : await hostsToDrain(session, deps);
      if (hosts.length === 0) return failSession(sessionId, `${state}: no compute is left to empty`, deps);
      await deps.store.updateSession(sessionId, { empty_checks: 0 });
      // The projects to ask are those with instances on those hosts now (one Query by host).
      const onHosts = (await Promise.all(hosts.map((host) => deps.cloud.listInstancesOnHost(host)))).flat();
      const instancesByProject = new Map<string, string[]>();
      for (const instance of onHosts)
        instancesByProject.set(instance.project_id, [
          ...(instancesByProject.get(instance.project_id) ?? []),
          instance.id,
        ]);
      const projects = [...instancesByProject.keys()].sort();
      const host = hosts[0];
      if (session.workflow === 'vnf') {
        // Asked per instance, as budgets allow (advanceRound): the round itself waits for nobody.
        const round = await openRound(session, state, [], deps, { hosts });
        return { next: 'SKIP', round_seq: round.seq, host };
      }
      if (projects.length === 0) return { next: 'SKIP', round_seq: 0, host };
      const split = await splitByInteraction(session, projects, deps);
      return { ...(await openRoundStep(session, state, split, deps, { hosts, instancesByProject })), host };
    }
    case 'MAINTENANCE_COMPLETE': {
      await refreshSnapshot(sessionId, deps);
      return roundStep(
        session,
        state,
        (await deps.store.listProjects(sessionId)).map((p) => p.project_id),
        deps,
      );
    }
    case 'START_MAINTENANCE': {
      // First pass: disable every session compute, so moved instances can land only on hosts
      // already maintained (or outside the session). Idempotent: each host records it.
      if ((session.maintained_count ?? 0) === 0) {
        const hosts = computes(await deps.store.listHosts(sessionId));
        for (const host of hosts.filter((h) => !h.disabled && !h.maintained)) await disableHost(sessionId, host, deps);
      }
      // The rollout's first decision in the same step (one Lambda call less between a round and its hosts).
      return nextHost(sessionId, deps);
    }
    default:
      throw new ConflictError(`cannot enter ${state}`, 'bad_state');
  }
};

// ---------------------------------------------------------------- after a round

/** The round opened since the session entered `state`, if any (a skipped round leaves none). */
const roundOfThisStep = async (session: Session, state: RoundState, deps: Deps): Promise<Round | undefined> => {
  const round = await currentRound(session, deps);
  if (!round || round.state !== state) return undefined;
  return round.opened_at >= (session.state_entered_at ?? '') ? round : undefined;
};

export const afterRound = async (sessionId: string, state: RoundState, deps: WorkflowDeps): Promise<Step> => {
  const session = await getSessionOrThrow(sessionId, deps);
  if (session.state !== state)
    return { next: session.state === 'MAINTENANCE_FAILED' ? 'MAINTENANCE_FAILED' : 'UNEXPECTED' };
  const round = await roundOfThisStep(session, state, deps);
  if (round) {
    const decided = round.status === 'CLOSED' ? round.outcome : undefined;
    const members = await deps.store.listMembers(sessionId, round.seq);
    const nacked = members.filter((m) => m.reply_state?.startsWith('NACK_')).map((m) => m.project_id);
    if (nacked.length > 0 || decided === 'NACK') {
      return failSession(sessionId, `${state}: project ${nacked.join(', ')} replied NACK_${state}`, deps, {
        nacked_by: nacked,
        round: round.seq,
      });
    }
    const silent = members.filter((m) => m.status === 'SILENT' || m.status === 'EXPECTED').map((m) => m.project_id);
    const failing = silent.filter((projectId) => projectPolicy(session, projectId).on_no_reply === 'FAIL');
    if (failing.length > 0) {
      return failSession(
        sessionId,
        `${state}: no reply before ${toFenixTime(round.deadline)} from project ${failing.join(', ')} (on_no_reply FAIL)`,
        deps,
        { silent_projects: failing, round: round.seq },
      );
    }
    if (silent.length > 0) await treatAsNonInteracting(session, round, silent, deps);
    if (roundHosts(round).length > 0) await assignDefaultActions(session, round, members, deps);
  }
  switch (state) {
    case 'MAINTENANCE':
      return { next: 'WAIT_UNTIL', until: session.maintenance_at };
    case 'SCALE_IN': {
      await refreshSnapshot(sessionId, deps);
      const next = await chooseNext(sessionId, deps);
      // Another SCALE_IN round is a new step in the same state: enter it here, so it gets its own
      // event and round (a plain retry of `enter` must not).
      if (next.next === 'SCALE_IN') await moveTo(sessionId, 'SCALE_IN', deps, {}, true);
      return next;
    }
    case 'PREPARE_MAINTENANCE':
    case 'PLANNED_MAINTENANCE':
      return roundHosts(round).length > 0 && round
        ? advanceRound(session, round, deps)
        : emptied(sessionId, state, deps);
    case 'MAINTENANCE_COMPLETE':
      await moveTo(sessionId, 'MAINTENANCE_DONE', deps);
      await deps.store.releaseHosts(
        sessionId,
        (await deps.store.listHosts(sessionId)).map((h) => h.name),
      );
      return { next: 'MAINTENANCE_DONE' };
  }
};

/**
 * `on_no_reply: DEFAULT_ACTION`: projects silent at the deadline are not waited for again in this
 * session; the history says so, after the round's notifications.
 */
const treatAsNonInteracting = async (session: Session, round: Round, projectIds: string[], deps: Deps) => {
  const seq = lastNotificationSeq(round);
  for (const projectId of projectIds) {
    await deps.store.updateProject(session.session_id, projectId, { interacting: false, silent_in: round.state });
  }
  await deps.store.putHistory(
    projectIds.map((projectId) => ({
      session_id: session.session_id,
      key: historyKey(seq, `silent#${projectId}`),
      entry: {
        at: round.deadline,
        seq,
        what: 'silent' as const,
        state: round.state,
        project_id: projectId,
        reason: `project ${projectId} silent in ${round.state}: default action ${projectPolicy(session, projectId).default_action}`,
      },
    })),
  );
};

/**
 * The actions for the projects a host round did not hear from (non-interacting, or silent): each of
 * their instances on the host gets the project's default action, recorded on its membership as if
 * it had replied, so carrying them out (and a retry of that) is the same path as for a reply.
 */
const assignDefaultActions = async (session: Session, round: Round, members: RoundMember[], deps: Deps) => {
  const unheard = members.filter((m) => m.status !== 'REPLIED' && m.instance_actions === undefined);
  await mapLimit(unheard, 8, (member) => {
    const action = projectPolicy(session, member.project_id).default_action;
    const actions = Object.fromEntries((member.instance_ids ?? []).map((id) => [id, action] as const));
    return deps.store.setDefaultActions(session.session_id, round.seq, member.project_id, actions);
  });
};

/**
 * Fenix's three-way choice once projects have ACKed: an empty compute → START; room to empty the
 * least loaded one → PREPARE; neither → SCALE_IN. Room counts every enabled compute of the cloud
 * but the candidate (migrations may land outside the session); Fenix assumed identical computes
 * and counted only the session's.
 */
export const chooseNext = async (sessionId: string, deps: Deps): Promise<Step> => {
  const { candidate, free } = await roomToEmpty(sessionId, deps);
  if (!candidate || candidate.used_vcpus === 0) return { next: 'START_MAINTENANCE' };
  return { next: free >= candidate.used_vcpus ? 'PREPARE_MAINTENANCE' : 'SCALE_IN' };
};

/** The least loaded compute still to maintain, and the vCPUs free on the other enabled computes. */
const roomToEmpty = async (sessionId: string, deps: Deps): Promise<{ candidate?: CloudHost; free: number }> => {
  const pending = new Set(
    computes(await deps.store.listHosts(sessionId))
      .filter((h) => !h.maintained)
      .map((h) => h.name),
  );
  const cloud = (await deps.cloud.listHosts()).filter((host) => host.type === 'compute');
  const [candidate] = cloud
    .filter((host) => pending.has(host.name))
    .sort((a, b) => a.used_vcpus - b.used_vcpus || a.name.localeCompare(b.name));
  const free = cloud
    .filter((host) => host.name !== candidate?.name && !host.disabled)
    .reduce((sum, host) => sum + Math.max(0, host.vcpus - host.used_vcpus), 0);
  return { ...(candidate ? { candidate } : {}), free };
};

/**
 * `vnf`: the instances a SCALE_IN round asks each project to remove (its GET lists them): just
 * enough vCPUs to empty the least loaded compute, at most `max_impacted_members` of each group, those
 * on that compute first. Undefined for `default` (Fenix leaves the amount to the VNFM there).
 */
const scaleInSizing = async (session: Session, deps: Deps): Promise<Map<string, string[]> | undefined> => {
  if (session.workflow !== 'vnf') return undefined;
  const { candidate, free } = await roomToEmpty(session.session_id, deps);
  if (!candidate) return undefined;
  let short = candidate.used_vcpus - free;
  const instances = (await deps.store.listInstances(session.session_id)).sort(
    (a, b) =>
      Number(b.host === candidate.name) - Number(a.host === candidate.name) ||
      a.instance_id.localeCompare(b.instance_id),
  );
  const groups = await groupsOf(
    session,
    instances.map((i) => ({ id: i.instance_id, project_id: i.project_id })),
    deps,
  );
  const taken = new Map<string, number>();
  const asked = new Map<string, string[]>();
  for (const instance of instances) {
    if (short <= 0) break;
    const group = groups.get(instance.instance_id);
    if (!group || (taken.get(group.group_id) ?? 0) >= group.max_impacted) continue;
    taken.set(group.group_id, (taken.get(group.group_id) ?? 0) + 1);
    asked.set(instance.project_id, [...(asked.get(instance.project_id) ?? []), instance.instance_id]);
    short -= instance.vcpus;
  }
  return asked;
};

/** Why no compute can be emptied, in numbers. */
const noRoom = async (sessionId: string, deps: Deps): Promise<string> => {
  const { candidate, free } = await roomToEmpty(sessionId, deps);
  return candidate
    ? `the least loaded compute, ${candidate.name}, holds ${candidate.used_vcpus} vCPUs and the other enabled computes have ${free} free`
    : 'no compute is left to empty';
};

const actionDoneEvent = (
  session: Session,
  instance: Pick<SessionInstance, 'instance_id' | 'project_id'>,
  seq: number,
  deps: Deps,
): FenixEvent => ({
  detailType: 'maintenance.scheduled',
  detail: {
    service: 'fenix',
    session_id: session.session_id,
    project_id: instance.project_id,
    state: 'INSTANCE_ACTION_DONE',
    instance_ids: [instance.instance_id],
    reply_url: projectUrl(deps.settings.apiBaseUrl, session.session_id, instance.project_id),
    allowed_actions: [],
    actions_at: null,
    reply_at: null,
    metadata: {},
    event_seq: seq,
  },
});

/** `vnf`: the notification about one instance, answered on its own reply URL before `reply_at`. */
const instanceEvent = (session: Session, round: Round, step: InstanceStep, seq: number, deps: Deps): FenixEvent => {
  const url = `${projectUrl(deps.settings.apiBaseUrl, session.session_id, step.project_id)}/${encodeURIComponent(step.instance_id)}`;
  return {
    detailType: 'maintenance.scheduled',
    detail: {
      service: 'fenix',
      session_id: session.session_id,
      project_id: step.project_id,
      state: round.state,
      instance_ids: [step.instance_id],
      reply_url: url,
      allowed_actions: [...ALLOWED_ACTIONS[round.state]],
      actions_at: toFenixTime(step.reply_at ?? deps.clock.now().toISOString()),
      reply_at: toFenixTime(step.reply_at ?? deps.clock.now().toISOString()),
      metadata: session.metadata,
      event_seq: seq,
    },
  };
};

/**
 * The instances a PREPARE/PLANNED round moves off its hosts, each with its group's budget. In
 * `default`, each has the action its project replied (or the default action); in `vnf`, an
 * interacting project is asked per instance, the others get the instance's `migration_type`.
 */
const planSteps = async (session: Session, round: Round, deps: WorkflowDeps): Promise<Record<string, InstanceStep>> => {
  const hosts = roundHosts(round);
  const onHosts = (await Promise.all(hosts.map((host) => deps.cloud.listInstancesOnHost(host))))
    .flat()
    .sort((a, b) => a.host.localeCompare(b.host) || a.id.localeCompare(b.id));
  const vnf = session.workflow === 'vnf';
  const members = vnf ? [] : await deps.store.listMembers(session.session_id, round.seq);
  const replied = new Map(members.flatMap((member) => Object.entries(member.instance_actions ?? {})));
  const asked = vnf
    ? new Set((await splitByInteraction(session, [...new Set(onHosts.map((i) => i.project_id))].sort(), deps)).expected)
    : new Set<string>();
  const groups = await groupsOf(session, onHosts, deps);
  const steps: Record<string, InstanceStep> = {};
  for (const instance of onHosts) {
    const info = groups.get(instance.id);
    const action = vnf ? undefined : replied.get(instance.id);
    if (!info || (!vnf && !action)) continue;
    const ask = asked.has(instance.project_id);
    steps[instance.id] = {
      instance_id: instance.id,
      project_id: instance.project_id,
      host: instance.host,
      group_id: info.group_id,
      max_impacted: info.max_impacted,
      recovery_seconds: info.recovery_seconds,
      lead_seconds: info.lead_seconds,
      default_action: info.default_action,
      ask,
      ...(info.placement ? { placement: true } : {}),
      ...(action ? { action } : vnf && !ask ? { action: info.default_action } : {}),
    };
  }
  return steps;
};

/**
 * Carries a PREPARE/PLANNED round forward by one step (after its replies, then after each wait):
 * 1. follow the running cloud actions; 2. a failed action fails its host (PLANNED: it stays
 *    disabled, the others go on) or sends PREPARE back to SCALE_IN;
 * 3. `vnf`: take each instance's reply, or at its `reply_at` the default (or fail, on_no_reply FAIL);
 * 4. start every decided action its group's budget allows (impacted = from the notification or the
 *    start until done + recovery_time), and in `vnf` notify the next instances as budgets allow;
 * 5. tell each action done to its owner; 6. when every instance is on its way, check the hosts empty,
 *    else wait: for the cloud (a Wait state) or, in `vnf`, for replies (woken by each reply).
 * Each step's outcome is written on the round before anything is announced, so a retried step
 * neither starts nor sends anything twice.
 */
const advanceRound = async (session: Session, round: Round, deps: WorkflowDeps, first = true): Promise<Step> => {
  const sessionId = session.session_id;
  const vnf = session.workflow === 'vnf';
  const steps: Record<string, InstanceStep> = { ...(round.instances ?? (await planSteps(session, round, deps))) };
  const actions: Record<string, CloudAction> = { ...round.actions };
  const order = Object.keys(steps);
  const now = () => deps.clock.now();
  const dirty = { value: round.instances === undefined || (await pollCloudActions(actions, deps)) };

  // 2. Failed actions: their host fails (PLANNED) or the round falls back to SCALE_IN (PREPARE).
  const failedActions = Object.values(actions).filter((action) => action.status === 'FAILED');
  if (failedActions.length > 0 && round.state === 'PREPARE_MAINTENANCE') {
    await deps.store.setRoundProgress(sessionId, round.seq, { actions, instances: steps });
    const [first] = failedActions;
    return cannotEmpty(sessionId, round.state, first?.reason ?? 'an instance action failed', deps);
  }
  const dead = new Set(failedActions.map((action) => action.from));
  for (const action of failedActions) {
    if (action.host_failed) continue;
    await markHostFailed(
      sessionId,
      action.from,
      `${round.state}: ${action.reason ?? actionFailure(action, 'failed')}`,
      deps,
    );
    action.host_failed = true;
    dirty.value = true;
  }
  const live = (step: InstanceStep) => !dead.has(step.host);

  if (markEnded(steps, actions, deps)) dirty.value = true;

  // 3. vnf: replies, and the defaults of those silent at their reply_at.
  if (vnf) {
    const waiting = Object.values(steps).filter((s) => live(s) && s.ask && s.notified_at && !s.action);
    if (waiting.length > 0) {
      const replies = new Map(
        (await deps.store.listMembers(sessionId, round.seq))
          .filter((m) => m.instance_id)
          .map((m) => [m.instance_id as string, m]),
      );
      for (const step of waiting) {
        const reply = replies.get(step.instance_id);
        if (reply?.reply_state?.startsWith('NACK_')) {
          await deps.store.setRoundProgress(sessionId, round.seq, { actions, instances: steps });
          return failSession(
            sessionId,
            `${round.state}: project ${step.project_id} replied ${reply.reply_state} for instance ${step.instance_id}`,
            deps,
            { nacked_by: [step.project_id], instance_id: step.instance_id, round: round.seq },
          );
        }
        const chosen = reply?.instance_actions?.[step.instance_id];
        if (chosen) {
          step.action = chosen;
          dirty.value = true;
        } else if (step.reply_at && now().getTime() >= Date.parse(step.reply_at)) {
          if (projectPolicy(session, step.project_id).on_no_reply === 'FAIL') {
            await deps.store.setRoundProgress(sessionId, round.seq, { actions, instances: steps });
            return failSession(
              sessionId,
              `${round.state}: no reply before ${toFenixTime(step.reply_at)} from project ${step.project_id} for instance ${step.instance_id} (on_no_reply FAIL)`,
              deps,
              { silent_projects: [step.project_id], instance_id: step.instance_id, round: round.seq },
            );
          }
          step.action = step.default_action;
          dirty.value = true;
        }
      }
    }
  }

  // 4. Start what the budgets allow, then (vnf) notify what they allow.
  const started: InstanceStep[] = [];
  const notified: InstanceStep[] = [];
  for (const step of Object.values(steps)) {
    if (!live(step) || step.started_at || !step.action) continue;
    if (!step.notified_at) {
      const impacted = impactedByGroup(Object.values(steps), now().getTime()).get(step.group_id) ?? 0;
      if (impacted >= step.max_impacted) continue;
    }
    step.started_at = now().toISOString();
    dirty.value = true;
    started.push(step);
    if (vnf && !step.notified_at) {
      // Told, though not asked: an instance of a non-interacting project hears what happens to it.
      step.notified_at = step.started_at;
      step.reply_at = step.started_at;
      notified.push(step);
    }
  }
  const moves = started.filter((step) => step.action !== 'OWN_ACTION');
  const hosts = moves.length > 0 ? await targetHosts(sessionId, deps) : [];
  // A few at a time; each batch is recorded before the next starts, so a retried step starts only
  // what is not yet recorded (the cloud refuses a second move of an instance already moving).
  for (let i = 0; i < moves.length; i += START_BATCH) {
    const batch = moves.slice(i, i + START_BATCH).filter(live);
    const begun = await Promise.all(batch.map((step) => startMove(step, hosts, deps)));
    for (const action of begun) actions[action.instance_id] = action;
    await deps.store.setRoundProgress(sessionId, round.seq, { actions, instances: steps });
    for (const action of begun.filter((a) => a.status === 'FAILED')) {
      if (round.state === 'PREPARE_MAINTENANCE')
        return cannotEmpty(sessionId, round.state, action.reason ?? 'an instance action failed', deps);
      if (dead.has(action.from)) continue;
      // Moving more off a host that stays disabled would only disturb them: its other instances stay.
      await markHostFailed(sessionId, action.from, `${round.state}: ${action.reason}`, deps);
      action.host_failed = true;
      dead.add(action.from);
    }
  }
  for (const step of moves) if (!actions[step.instance_id]) delete step.started_at; // its host failed first
  if (vnf) {
    for (const step of Object.values(steps)) {
      if (!live(step) || step.notified_at || step.action) continue;
      const impacted = impactedByGroup(Object.values(steps), now().getTime()).get(step.group_id) ?? 0;
      if (impacted >= step.max_impacted) continue;
      step.notified_at = now().toISOString();
      step.reply_at = new Date(now().getTime() + step.lead_seconds * 1000).toISOString();
      notified.push(step);
      dirty.value = true;
    }
  }
  // The detail view's instance list: what each started instance gets.
  await mapLimit(
    started.filter((step) => step.started_at),
    8,
    (step) =>
      deps.store.updateInstance(sessionId, step.project_id, step.instance_id, {
        action: step.action,
        action_done: false,
      }),
  );
  if (notified.length > 0) {
    // One number per instance of the round, reserved once: a retried step re-sends the same events.
    const first = await deps.store.stampEventSeq(
      sessionId,
      { round: round.seq },
      'notify_first_event_seq',
      order.length,
    );
    for (const step of notified) step.event_seq = first + order.indexOf(step.instance_id);
  }
  if (markEnded(steps, actions, deps)) dirty.value = true;
  if (dirty.value) await deps.store.setRoundProgress(sessionId, round.seq, { actions, instances: steps });
  if (notified.length > 0) {
    await publish(
      notified.map((step) => instanceEvent(session, round, step, step.event_seq ?? 0, deps)),
      deps,
    );
  }
  // 5. Tell each action done to its owner, at once (the owner may be waiting to re-point traffic).
  await tellDone(session, round, actions, order, deps);

  // One look at once at what was just started: a move the cloud finished already (the simulated
  // cloud's, or a fast one) goes on without a Wait state, and one it refused fails its host now.
  if (first && moves.length > 0) return advanceRound(session, { ...round, actions, instances: steps }, deps, false);

  // 6. Where the round stands.
  const pending = Object.values(steps).filter(
    (s) => live(s) && (!s.started_at || (s.action !== 'OWN_ACTION' && !s.done_at)),
  );
  if (pending.length === 0) return emptied(sessionId, round.state, deps);
  if (canHandOver(session, round, Object.values(steps), pending)) {
    // Only moves the cloud is carrying out are left: the rollout follows them from here, so
    // hosts that end meanwhile get their slots filled without waiting for these moves.
    await deps.store.updateSession(sessionId, { draining_rounds: [...(session.draining_rounds ?? []), round.seq] });
    return { next: 'START_MAINTENANCE' };
  }
  return waitFor(pending, Object.values(steps), actions, vnf, session, deps);
};

/**
 * Stamps `done_at` on every instance whose action ended, done or failed: from then on its group
 * counts it impacted only for its recovery time (a failed move is over, its host failed). True when
 * any changed.
 */
const markEnded = (steps: Record<string, InstanceStep>, actions: Record<string, CloudAction>, deps: Deps): boolean => {
  let changed = false;
  for (const step of Object.values(steps)) {
    const status = actions[step.instance_id]?.status;
    if ((status === 'DONE' || status === 'FAILED') && !step.done_at) {
      step.done_at = deps.clock.now().toISOString();
      changed = true;
    }
  }
  return changed;
};

/**
 * A parallel rollout's PLANNED round whose instances are all on their way (every move started, none
 * left to the project, nothing paced or asked) needs no more of the session's attention than a poll.
 */
const canHandOver = (session: Session, round: Round, steps: InstanceStep[], pending: InstanceStep[]) =>
  rolloutOf(session).max_parallel_hosts > 1 &&
  round.state === 'PLANNED_MAINTENANCE' &&
  session.workflow !== 'vnf' &&
  steps.every((step) => step.action !== 'OWN_ACTION') &&
  pending.every((step) => step.started_at && !step.done_at);

/**
 * Follows the moves of the PLANNED rounds handed over to the rollout (one poll each): each move done
 * is told to its owner, a failed one fails its host. Answers the hosts still being emptied and the
 * moves still running; a round with nothing running is dropped from the list.
 */
const followHandedOver = async (
  session: Session,
  deps: WorkflowDeps,
): Promise<{ draining: Set<string>; running: CloudAction[] }> => {
  const draining = new Set<string>();
  const running: CloudAction[] = [];
  const seqs = session.draining_rounds ?? [];
  if (seqs.length === 0) return { draining, running };
  const kept: number[] = [];
  for (const seq of seqs) {
    const round = await deps.store.getRound(session.session_id, seq);
    if (!round) continue;
    const actions = { ...round.actions };
    const steps = { ...round.instances };
    const polled = await pollCloudActions(actions, deps);
    const changed = markEnded(steps, actions, deps) || polled;
    for (const action of Object.values(actions)) {
      if (action.status === 'FAILED' && !action.host_failed) {
        await markHostFailed(session.session_id, action.from, `${round.state}: ${action.reason}`, deps);
        action.host_failed = true;
      }
    }
    if (changed) await deps.store.setRoundProgress(session.session_id, seq, { actions, instances: steps });
    await tellDone(session, round, actions, Object.keys(steps), deps);
    const still = Object.values(actions).filter((action) => action.status === 'RUNNING');
    for (const action of still) draining.add(action.from);
    running.push(...still);
    if (still.length > 0) kept.push(seq);
  }
  if (kept.length !== seqs.length) await deps.store.updateSession(session.session_id, { draining_rounds: kept });
  return { draining, running };
};

/** How long to wait, and on what: replies wake a `vnf` round; cloud actions and recovery are timed. */
const waitFor = (
  pending: InstanceStep[],
  all: InstanceStep[],
  actions: Record<string, CloudAction>,
  vnf: boolean,
  session: Session,
  deps: WorkflowDeps,
): Step => {
  const now = deps.clock.now().getTime();
  const running = Object.values(actions).filter((action) => action.status === 'RUNNING');
  const times: number[] = [];
  if (running.length > 0) times.push(pollWait(running, deps));
  for (const step of pending) if (step.reply_at && !step.action) times.push((Date.parse(step.reply_at) - now) / 1000);
  for (const step of all) {
    if (!step.done_at) continue;
    const free = (Date.parse(step.done_at) + step.recovery_seconds * 1000 - now) / 1000;
    if (free > 0) times.push(free);
  }
  const wait = Math.max(1, Math.ceil(Math.min(deps.workflow.actionTimeoutSeconds, ...times)));
  const awaitingReply = vnf && pending.some((step) => step.ask && step.notified_at && !step.action);
  return awaitingReply
    ? { next: 'WAIT_REPLIES', wait_seconds: wait, wake_seq: session.wake_seq ?? 0 }
    : { next: 'WAIT_ACTIONS', wait_seconds: wait };
};

/**
 * INSTANCE_ACTION_DONE for each action the engine finished, numbered from one block reserved on the
 * round (one number per instance of the round), so a retried step re-sends the same events.
 */
const tellDone = async (
  session: Session,
  round: Round,
  actions: Record<string, CloudAction>,
  order: string[],
  deps: Deps,
) => {
  const untold = Object.values(actions).filter((action) => action.status === 'DONE' && !action.told);
  if (untold.length === 0) return;
  const firstSeq = await deps.store.stampEventSeq(
    session.session_id,
    { round: round.seq },
    'actions_first_event_seq',
    Math.max(1, order.length),
  );
  await mapLimit(untold, 8, (action) =>
    deps.store.updateInstance(session.session_id, action.project_id, action.instance_id, {
      action_done: true,
      ...(action.host ? { host: action.host } : {}),
    }),
  );
  // Told at once, not at the end of the host: the owner may be waiting to re-point traffic.
  await publish(
    untold.map((action) => actionDoneEvent(session, action, firstSeq + order.indexOf(action.instance_id), deps)),
    deps,
  );
  for (const action of untold) action.told = true;
  await deps.store.setRoundProgress(session.session_id, round.seq, { actions });
};

/** Moves started at once in a round (a few: each still waits for the cloud to accept it). */
const START_BATCH = 4;

/** Starts the move (or eviction) of one instance; a refusal or an error comes back as a FAILED action. */
const startMove = async (step: InstanceStep, hosts: CloudHost[], deps: Deps): Promise<CloudAction> => {
  const action: CloudAction = {
    instance_id: step.instance_id,
    project_id: step.project_id,
    action: step.action as CloudAction['action'],
    from: step.host,
    started_at: step.started_at ?? deps.clock.now().toISOString(),
    status: 'RUNNING',
  };
  try {
    const instance = await deps.cloud.getInstance(step.instance_id);
    if (!instance || instance.host !== step.host) throw new Error(`the instance is no longer on ${step.host}`);
    Object.assign(action, await startAction(instance, action.action, hosts, step.placement === true, deps));
  } catch (error) {
    Object.assign(action, { status: 'FAILED', reason: actionFailure(action, errorMessage(error)) });
  }
  return action;
};

/** The hosts moves may land on, read once per step and kept current as moves are started. */
const targetHosts = async (sessionId: string, deps: Deps): Promise<CloudHost[]> => {
  const maintained = new Set((await deps.store.listHosts(sessionId)).filter((h) => h.maintained).map((h) => h.name));
  return (await deps.cloud.listHosts()).map((h) => ({ ...h, maintained: h.maintained || maintained.has(h.name) }));
};

/**
 * The hosts an instance may move to without breaking its group's placement rules (DESIGN §12:
 * `anti_affinity_group`, `max_instances_per_host`), from where the other members are now.
 */
const placementFilter = async (instance: CloudInstance, deps: Deps): Promise<(host: string) => boolean> => {
  const group = await placementGroupOf(instance, deps.constraints);
  if (!group) return () => true;
  const members = await groupMembersPlaced(group, deps.constraints, (ids) =>
    Promise.all(ids.map(async (id) => (await deps.cloud.getInstance(id))?.host)),
  );
  return (target) => placementConflict({ instanceId: instance.id, group, members, target }) === undefined;
};

/** Follows the round one step further (a Wait state, or a wake, sits between steps). */
export const pollActions = async (sessionId: string, state: RoundState, deps: WorkflowDeps): Promise<Step> => {
  const session = await getSessionOrThrow(sessionId, deps);
  if (session.state !== state)
    return { next: session.state === 'MAINTENANCE_FAILED' ? 'MAINTENANCE_FAILED' : 'UNEXPECTED' };
  const round = await roundOfThisStep(session, state, deps);
  if (!round?.instances) return emptied(sessionId, state, deps);
  return advanceRound(session, round, deps);
};

/** Polls each running action once; true when any changed. */
const pollCloudActions = async (actions: Record<string, CloudAction>, deps: WorkflowDeps): Promise<boolean> => {
  const timeoutMs = deps.workflow.actionTimeoutSeconds * 1000;
  const overdue = (action: CloudAction) => deps.clock.now().getTime() - Date.parse(action.started_at) > timeoutMs;
  let changed = false;
  for (const [id, action] of Object.entries(actions)) {
    if (action.status !== 'RUNNING') continue;
    let progress: ActionProgress;
    try {
      progress = await deps.cloud.pollAction(action);
    } catch (error) {
      // The cloud did not answer this time (its client already retried): the next poll asks again,
      // until the action's time is up.
      progress = overdue(action)
        ? { status: 'FAILED', reason: `the cloud did not answer: ${errorMessage(error)}` }
        : { status: 'RUNNING' };
    }
    if (progress.status === 'RUNNING' && overdue(action))
      progress = { status: 'FAILED', reason: `not done after ${deps.workflow.actionTimeoutSeconds} s` };
    if (progress.status === 'FAILED') progress = { ...progress, reason: actionFailure(action, progress.reason) };
    if (
      progress.status === 'RUNNING' &&
      JSON.stringify(progress.driver ?? action.driver) === JSON.stringify(action.driver)
    )
      continue;
    actions[id] = { ...action, ...progress };
    changed = true;
  }
  return changed;
};

/**
 * Seconds until the next poll: half the time the youngest running action has taken so far, at least
 * 1 and at most FENIX_ACTION_POLL_SECONDS. A quick migration is seen done within about a second, a
 * long one costs few polls (and few execution history events).
 */
const pollWait = (running: CloudAction[], deps: WorkflowDeps): number => {
  const youngest = Math.max(...running.map((action) => Date.parse(action.started_at)));
  const elapsed = (deps.clock.now().getTime() - youngest) / 1000;
  return Math.min(deps.workflow.actionPollSeconds, Math.max(1, Math.ceil(elapsed / 2)));
};

const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** A failed action, named for the session failure: the server, the action and the cloud's fault. */
const actionFailure = (action: Pick<CloudAction, 'action' | 'instance_id' | 'from'>, why: string) =>
  `${action.action} of instance ${action.instance_id} (on ${action.from}) failed: ${why}`;

/**
 * Starts an instance action; a move goes to the best host of the (locally kept) host list that keeps
 * the instance's group within its placement rules, and when the cloud finds our copy stale (another
 * session took the room) it chooses itself.
 */
const startAction = async (
  instance: CloudInstance,
  action: CloudAction['action'],
  hosts: CloudHost[],
  placement: boolean,
  deps: Deps,
): Promise<Pick<CloudAction, 'target' | 'driver'>> => {
  if (action === 'EVICTION') return deps.cloud.startAction(instance, action);
  const type = hosts.find((h) => h.name === instance.host)?.type ?? 'compute';
  const allowed = placement ? await placementFilter(instance, deps) : () => true;
  const target = pickTarget(
    hosts.filter((host) => allowed(host.name)),
    instance.vcpus,
    type,
    instance.host,
  );
  // Taken at once in the local copy, so moves started alongside do not count on the same room.
  if (target) target.used_vcpus += instance.vcpus;
  try {
    return await deps.cloud.startAction(instance, action, target?.name);
  } catch (error) {
    if (!(error instanceof ConflictError) || !target) throw error;
    target.used_vcpus -= instance.vcpus;
    const started = await deps.cloud.startAction(instance, action);
    const landed = hosts.find((h) => h.name === started.target);
    if (landed) landed.used_vcpus += instance.vcpus;
    return started;
  }
};

/** PREPARE falls back to SCALE_IN when a host cannot be emptied; PLANNED fails (Fenix's rules). */
const cannotEmpty = async (sessionId: string, state: RoundState, why: string, deps: WorkflowDeps): Promise<Step> => {
  if (state === 'PREPARE_MAINTENANCE') {
    await refreshSnapshot(sessionId, deps);
    return { next: 'SCALE_IN', reason: why };
  }
  return failSession(sessionId, `${state}: ${why}`, deps);
};

/**
 * Once a round's hosts are empty (or given up on), its OWN_ACTION instances are done — their impact
 * on their groups ends — and each is re-read where its project moved it.
 */
const settleOwnActions = async (round: Round, deps: Deps): Promise<void> => {
  const steps = { ...round.instances };
  const open = Object.values(steps).filter((step) => step.action === 'OWN_ACTION' && !step.done_at);
  for (const step of open) step.done_at = deps.clock.now().toISOString();
  if (open.length > 0) await deps.store.setRoundProgress(round.session_id, round.seq, { instances: steps });
  await refreshMoved(round, deps);
};

/**
 * After a host emptied, re-reads where the OWN_ACTION instances went (the engine recorded its own
 * moves as it made them): a moved instance follows its new host, a removed one leaves the session.
 * Only those instances are read, so the cost per host does not grow with the session.
 */
const refreshMoved = async (round: Round, deps: Deps): Promise<void> => {
  const members = await deps.store.listMembers(round.session_id, round.seq);
  const gone: SessionInstance[] = [];
  for (const member of members) {
    for (const [instanceId, action] of Object.entries(member.instance_actions ?? {})) {
      if (action !== 'OWN_ACTION') continue;
      const now = await deps.cloud.getInstance(instanceId);
      if (now) await deps.store.updateInstance(round.session_id, member.project_id, instanceId, { host: now.host });
      else gone.push({ instance_id: instanceId, project_id: member.project_id } as SessionInstance);
    }
  }
  await deps.store.deleteInstances(round.session_id, gone);
};

/**
 * Are the round's hosts empty yet (those that did not fail)? If not, wait (bounded) for OWN_ACTION
 * projects to move their instances; a PLANNED host still holding instances then fails alone.
 */
export const emptied = async (sessionId: string, state: RoundState, deps: WorkflowDeps): Promise<Step> => {
  const session = await getSessionOrThrow(sessionId, deps);
  const round = await roundOfThisStep(session, state, deps);
  const failed = hostSet(session.failed_hosts);
  const hosts = roundHosts(round).filter((host) => !failed.has(host));
  const left = (await Promise.all(hosts.map((host) => deps.cloud.listInstancesOnHost(host)))).flat();
  if (left.length === 0) {
    if (round) await settleOwnActions(round, deps);
    return { next: 'START_MAINTENANCE' };
  }
  const checks = await deps.store.increment(sessionId, 'empty_checks');
  if (checks > deps.workflow.emptyCheckAttempts) {
    const full = [...new Set(left.map((i) => i.host))];
    const holds = (host: string) =>
      `host ${host} still holds ${left
        .filter((i) => i.host === host)
        .map((i) => `${i.id} (${i.project_id})`)
        .join(', ')}`;
    if (state === 'PREPARE_MAINTENANCE') return cannotEmpty(sessionId, state, full.map(holds).join('; '), deps);
    for (const host of full) await markHostFailed(sessionId, host, `${state}: ${holds(host)}`, deps);
    if (round) await settleOwnActions(round, deps);
    return { next: 'START_MAINTENANCE' };
  }
  return { next: 'WAIT_EMPTY', wait_seconds: deps.workflow.emptyCheckSeconds };
};

// ---------------------------------------------------------------- host maintenance

const sortedPlugins = (actions: ActionPlugin[], type: string) =>
  actions.filter((a) => a.type === type).sort((a, b) => a.plugin.localeCompare(b.plugin));

/** A host's child execution: its name is unique per host and epoch (AWS allows 80 characters). */
export interface HostChild {
  host: string;
  phase: 'host';
  execution_name: string;
}
const childOf = (session: Session, host: string): HostChild => ({
  host,
  phase: 'host',
  execution_name: `${session.session_id}-${session.epoch ?? 0}-${createHash('sha256').update(host).digest('hex').slice(0, 12)}`,
});

/** Sends the execution to start `children`, remembered on the session so a retried step starts the same ones. */
const startChildren = async (session: Session, children: HostChild[], deps: Deps): Promise<Step> => {
  const epoch = session.epoch ?? 0;
  await mapLimit(children, 8, ({ host }) =>
    deps.store.updateHost(session.session_id, host, { phase: 'DRAINING', epoch, blocking_reason: undefined }),
  );
  await deps.store.changeHostSet(
    session.session_id,
    'in_flight',
    'add',
    children.map((c) => c.host),
  );
  await deps.store.updateSession(session.session_id, { starting: children });
  return { next: 'START_HOSTS', children };
};

/**
 * What START_MAINTENANCE does next (the rollout, DESIGN §12): `pre` plug-ins once; then, while
 * fewer than `max_parallel_hosts` hosts are in flight and no more than `max_failed_hosts` failed,
 * a child execution for each emptied compute (every compute empty from the start first), or a
 * PLANNED round draining the computes that may start now; otherwise park until a host ends. When
 * every compute is done: fail naming the failed hosts, or the controllers, `post` plug-ins once,
 * then MAINTENANCE_COMPLETE. Hands over to a fresh execution before the history grows too long.
 * `started`: the execution has just started the children of the previous step.
 */
export const nextHost = async (sessionId: string, deps: WorkflowDeps, started = false): Promise<Step> => {
  if (started) await deps.store.updateSession(sessionId, { starting: [] });
  const session = await getSessionOrThrow(sessionId, deps);
  if (session.state === 'MAINTENANCE_FAILED' || session.state === 'MAINTENANCE_DONE') return { next: session.state };
  if (session.starting?.length) return { next: 'START_HOSTS', children: session.starting };
  const attempt = session.execution_count ?? 1;
  const phaseChild = (phase: 'pre' | 'post') => ({
    next: 'MAINTAIN_HOST',
    host: '',
    phase,
    execution_name: `${sessionId}-${attempt}-${phase}`,
  });
  if (!session.pre_done && sortedPlugins(session.actions, 'pre').length > 0) return phaseChild('pre');
  if ((session.execution_events ?? 0) >= deps.workflow.historyEvents) {
    const name = `${sessionId}-${attempt + 1}`;
    await deps.store.updateSession(sessionId, {
      execution_name: name,
      execution_count: attempt + 1,
      execution_events: 0,
    });
    return { next: 'CONTINUE_AS_NEW', execution_name: name, resume_from: 'START_MAINTENANCE' };
  }
  const rollout = rolloutOf(session);
  const epoch = session.epoch ?? 0;
  const { draining, running } = await followHandedOver(session, deps);
  // Re-read what following the handed-over moves may have changed (a host failed).
  const now =
    running.length > 0 || (session.draining_rounds ?? []).length > 0
      ? await getSessionOrThrow(sessionId, deps)
      : session;
  const inFlight = hostSet(now.in_flight);
  const failed = hostSet(now.failed_hosts);

  // Hosts in flight: a drained one gets its child; one whose child an earlier epoch started (the
  // runtime restarted) gets a new one; a drain that did not finish (the round failed) is undone.
  const children: HostChild[] = [];
  const flying = await Promise.all([...inFlight].map((name) => deps.store.getHost(sessionId, name)));
  for (const [index, name] of [...inFlight].entries()) {
    const host = flying[index];
    if (draining.has(name)) continue; // its moves are still running
    if (!host || host.maintained || host.phase === 'FAILED') {
      await deps.store.changeHostSet(sessionId, 'in_flight', 'delete', [name]);
      inFlight.delete(name);
    } else if (host.phase === 'DRAINING' && host.epoch !== epoch) {
      if ((await deps.cloud.listInstancesOnHost(name)).length === 0) children.push(childOf(session, name));
      else {
        await deps.store.updateHost(sessionId, name, { phase: 'PENDING' });
        await deps.store.changeHostSet(sessionId, 'in_flight', 'delete', [name]);
        inFlight.delete(name);
      }
    } else if (host.phase === 'IN_MAINTENANCE' && host.epoch !== epoch) children.push(childOf(session, name));
  }
  if (children.length > 0) return startChildren(session, children, deps);

  const stopped = failed.size > rollout.max_failed_hosts;
  const slots = stopped ? 0 : rollout.max_parallel_hosts - inFlight.size;
  if (slots > 0 && !session.first_pass_done) {
    // First pass: every compute that is empty (from the start, or emptied by PREPARE).
    const used = new Map((await deps.cloud.listHosts()).map((h) => [h.name, h.used_vcpus]));
    const empty = computes(await deps.store.listHosts(sessionId))
      .filter((h) => !h.maintained && !inFlight.has(h.name) && !failed.has(h.name) && used.get(h.name) === 0)
      .map((h) => h.name)
      .sort();
    if (empty.length <= slots) await deps.store.updateSession(sessionId, { first_pass_done: true });
    if (empty.length > 0)
      return startChildren(
        session,
        empty.slice(0, slots).map((name) => childOf(session, name)),
        deps,
      );
  }
  if (slots > 0) {
    const names = (
      await deps.store.pendingHosts(sessionId, 'compute', inFlight.size + failed.size + slots + PENDING_LOOKAHEAD)
    ).filter((name) => !inFlight.has(name) && !failed.has(name));
    const { picked, held, recoveredAt } = await pickHostsToDrain(session, names, slots, deps);
    await mapLimit([...held], 8, ([name, reason]) =>
      deps.store.updateHost(sessionId, name, { blocking_reason: reason }),
    );
    const empty = picked.filter((c) => c.instances.length === 0);
    if (empty.length > 0)
      return startChildren(
        session,
        empty.map((c) => childOf(session, c.name)),
        deps,
      );
    if (picked.length > 0) {
      // Entering PLANNED_MAINTENANCE puts them in flight (hostsToDrain).
      await deps.store.updateSession(sessionId, { drain_hosts: picked.map((c) => c.name) });
      return { next: 'PLANNED_MAINTENANCE' };
    }
    if (inFlight.size === 0 && picked.length === 0 && recoveredAt !== undefined) {
      // Held back only until a group's recovery time has passed.
      const seconds = Math.ceil((recoveredAt - deps.clock.now().getTime()) / 1000);
      return { next: 'WAIT_HOSTS', wake_seq: session.wake_seq ?? 0, wait_seconds: Math.max(1, seconds) };
    }
    if (inFlight.size === 0 && held.size > 0) {
      if (failed.size > 0) return failForHosts(session, [...failed].sort(), deps);
      return failSession(
        sessionId,
        `START_MAINTENANCE: no compute can start: ${[...held]
          .map(([name, why]) => `${name} ${why}`)
          .slice(0, 3)
          .join('; ')}`,
        deps,
      );
    }
  }
  if (inFlight.size > 0)
    return {
      next: 'WAIT_HOSTS',
      wake_seq: session.wake_seq ?? 0,
      wait_seconds: running.length > 0 ? pollWait(running, deps) : WAKE_CHECK_SECONDS,
    };
  const pendingComputes = (await deps.store.pendingHosts(sessionId, 'compute', failed.size + 1)).filter(
    (name) => !failed.has(name),
  );
  if (failed.size > 0 && stopped) return failForHosts(session, [...failed].sort(), deps);
  if (pendingComputes.length > 0)
    return failSession(
      sessionId,
      `START_MAINTENANCE: no compute can start (${pendingComputes[0]} is still pending)`,
      deps,
    );
  const controllers = (await deps.store.pendingHosts(sessionId, 'controller', failed.size + rollout.max_parallel_hosts))
    .filter((name) => !failed.has(name))
    .slice(0, rollout.max_parallel_hosts);
  if (controllers.length > 0)
    return startChildren(
      session,
      controllers.map((name) => childOf(session, name)),
      deps,
    );
  // Within max_failed_hosts the others went on; now every host that could be maintained is.
  if (failed.size > 0) return failForHosts(session, [...failed].sort(), deps);
  if (!session.post_done && sortedPlugins(session.actions, 'post').length > 0) return phaseChild('post');
  return { next: 'MAINTENANCE_COMPLETE' };
};

/** Pending computes read beyond the free slots, so hosts held back by a budget do not stall the rollout. */
const PENDING_LOOKAHEAD = 20;
/** A parked execution looks again after this long even if nothing woke it (a lost wake costs a minute, not a session). */
const WAKE_CHECK_SECONDS = 60;

/**
 * Disables a session host with the session's reason. One already disabled by someone else (after the
 * session began) is left as it is and remembered, so the session never enables it.
 */
const disableHost = async (sessionId: string, host: SessionHost, deps: Deps) => {
  const ours = disableReason(sessionId);
  // Not changed: disabled already, by this session (a retried step) or by someone else.
  const now = (await deps.cloud.disableHost(host.name, ours)) ? undefined : await deps.cloud.getHost(host.name);
  const foreign = now?.disabled && now.disabled_reason !== ours;
  await deps.store.updateHost(sessionId, host.name, {
    disabled: true,
    ...(foreign ? { disabled_before: now.disabled_reason ?? '' } : {}),
  });
};

/** Starts a host (or a pre/post phase): checks it is empty, announces it, returns its plug-ins in order. */
export const hostBegin = async (sessionId: string, host: string, phase: string, deps: WorkflowDeps): Promise<Step> => {
  const [session, hostItem, left] = await Promise.all([
    getSessionOrThrow(sessionId, deps),
    phase === 'host' ? deps.store.getHost(sessionId, host) : undefined,
    phase === 'host' ? deps.cloud.listInstancesOnHost(host) : [],
  ]);
  let plugins: ActionPlugin[];
  if (phase === 'host') {
    if (!hostItem) throw new ConflictError(`host ${host} is not in session ${sessionId}`, 'unknown_host');
    if (left.length > 0)
      throw new ConflictError(
        `host ${host} is not empty (${left.map((i) => i.id).join(', ')} still on it)`,
        'host_not_empty',
      );
    if (!hostItem.disabled) await disableHost(sessionId, hostItem, deps);
    await Promise.all([
      deps.store.updateHost(sessionId, host, {
        phase: 'IN_MAINTENANCE',
        started_at: hostItem.started_at ?? deps.clock.now().toISOString(),
      }),
      hostEvent(sessionId, host, 'IN_MAINTENANCE', deps),
    ]);
    plugins = [...sortedPlugins(session.actions, 'host'), ...sortedPlugins(session.actions, hostItem.type)];
  } else {
    plugins = sortedPlugins(session.actions, phase);
  }
  return {
    next: 'RUN_PLUGINS',
    plugins: plugins.map((plugin) => ({
      function_name: deps.workflow.plugins[plugin.plugin] ?? plugin.plugin,
      payload: {
        session_id: sessionId,
        host: host || null,
        plugin: plugin.plugin,
        metadata: plugin.metadata ?? {},
        download: session.downloads ?? [],
      },
    })),
  };
};

/** Records a plug-in's answer (or its throw) and says whether the host may go on. */
export const pluginResult = async (
  sessionId: string,
  host: string,
  phase: string,
  plugin: string,
  outcome: { result?: { state?: unknown; message?: unknown }; Error?: string; Cause?: string },
  deps: Deps,
): Promise<Step> => {
  const state = outcome.result?.state === 'DONE' ? 'DONE' : 'FAILED';
  const message =
    typeof outcome.result?.message === 'string'
      ? outcome.result.message
      : outcome.Error
        ? `${outcome.Error}: ${outcome.Cause ?? ''}`.slice(0, 1000)
        : state === 'FAILED'
          ? `plug-in answered ${JSON.stringify(outcome.result ?? null).slice(0, 200)} instead of {"state":"DONE"}`
          : undefined;
  await deps.store.putPluginRun({
    session_id: sessionId,
    host: host || '-',
    plugin,
    phase,
    state,
    ...(message ? { message } : {}),
    at: new Date().toISOString(),
  });
  return { next: state };
};

/** Ends a host: MAINTENANCE_COMPLETE, enable it, mark it maintained (once), free its slot. */
export const hostEnd = async (sessionId: string, host: string, phase: string, deps: Deps): Promise<Step> => {
  if (phase !== 'host') {
    await deps.store.updateSession(sessionId, phase === 'pre' ? { pre_done: true } : { post_done: true });
    return { next: 'DONE' };
  }
  // Only what this session disabled is enabled again: a host disabled before it, or by someone else
  // meanwhile (another reason), stays as they left it.
  const [, enabled] = await Promise.all([
    hostEvent(sessionId, host, 'MAINTENANCE_COMPLETE', deps),
    deps.cloud.enableHost(host, disableReason(sessionId)),
  ]);
  if (enabled) await deps.store.updateHost(sessionId, host, { disabled: false });
  const started = (await deps.store.getHost(sessionId, host))?.started_at;
  // Then its slot is free: the session's execution, parked on the hosts in flight, fills it.
  await wake(sessionId, deps, { host, maintained: await deps.store.markHostMaintained(sessionId, host) });
  // Reported for the host-maintenance-duration metric (a CloudWatch metric filter on the logs).
  return { next: 'DONE', ...(started ? { host_duration_ms: Date.now() - new Date(started).getTime() } : {}) };
};

/**
 * A child execution failed: record which plug-in (or step) and why. A host fails alone (it stays
 * disabled; the rollout decides what follows); a failed `pre`/`post` phase fails the session.
 */
export const hostFailed = async (
  sessionId: string,
  host: string,
  error: { Error?: string; Cause?: string },
  deps: Deps,
): Promise<Step> => {
  const failedRun = (await deps.store.listPluginRuns(sessionId)).find(
    (run) => run.state === 'FAILED' && run.host === (host || '-'),
  );
  const reason = failedRun
    ? `plug-in ${failedRun.plugin} failed on ${host || failedRun.phase}: ${failedRun.message ?? 'no message'}`
    : `maintenance of ${host || 'plug-in phase'} failed: ${errorText(error)}`;
  if (!host) return failSession(sessionId, reason, deps, { host, ...(failedRun ? { plugin: failedRun.plugin } : {}) });
  const item = await deps.store.getHost(sessionId, host);
  if (item && !item.maintained && item.phase !== 'FAILED') await markHostFailed(sessionId, host, reason, deps);
  await wake(sessionId, deps);
  return { next: 'HOST_FAILED', reason };
};

export { awaitRound, expireRound };
