import type { Deps } from './deps.js';
import { type DownloadRecord, fetchDownload } from './downloads.js';
import { ConflictError } from './errors.js';
import { type FenixEvent, projectUrl } from './events.js';
import { historyKey, publish } from './history.js';
import type {
  CloudAction,
  CloudHost,
  CloudInstance,
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
import { awaitRound, currentRound, expireRound, lastNotificationSeq, openRound, secondsLeft } from './rounds.js';
import type { ActionPlugin } from './schemas.js';
import { disableReason, getSessionOrThrow } from './sessions.js';
import { ROUND_STATES, type RoundState, type SessionState } from './states.js';
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
  /** Hosts one execution maintains before handing over to a fresh one (bounds its history). */
  hostsPerExecution: number;
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
  options: { host?: string; actionsAt?: Date } = {},
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
  options: { host?: string; actionsAt?: Date } = {},
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
      return openRoundStep(session, state, split, deps);
    }
    case 'PREPARE_MAINTENANCE':
    case 'PLANNED_MAINTENANCE': {
      const host =
        state === 'PREPARE_MAINTENANCE'
          ? (await hostToEmpty(await deps.store.listHosts(sessionId), deps))?.name
          : await deps.store.firstPendingHost(sessionId, 'compute');
      if (!host) return failSession(sessionId, `${state}: no compute is left to empty`, deps);
      await deps.store.updateSession(sessionId, { empty_checks: 0 });
      // The projects to ask are those with instances on that host now (one Query by host).
      const onHost = await deps.cloud.listInstancesOnHost(host);
      const projects = [...new Set(onHost.map((instance) => instance.project_id))].sort();
      return { ...(await roundStep(session, state, projects, deps, { host })), host };
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
      return { next: 'NEXT_HOST' };
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
    if (round.host) await assignDefaultActions(session, round, members, deps);
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
      return round?.host ? startActions(session, round, deps) : emptied(sessionId, state, deps);
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
  const host = round.host;
  if (!host) return;
  const unheard = members.filter((m) => m.status !== 'REPLIED' && m.instance_actions === undefined);
  if (unheard.length === 0) return;
  const onHost = await deps.cloud.listInstancesOnHost(host);
  for (const member of unheard) {
    const action = projectPolicy(session, member.project_id).default_action;
    const actions = Object.fromEntries(
      onHost.filter((i) => i.project_id === member.project_id).map((i) => [i.id, action] as const),
    );
    await deps.store.setDefaultActions(session.session_id, round.seq, member.project_id, actions);
  }
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

/**
 * Starts the instance actions of a PREPARE/PLANNED round on its host: MIGRATE and LIVE_MIGRATE move
 * the instance (to a maintained host first, as Fenix does), EVICTION removes it, OWN_ACTION leaves it
 * to the project. The cloud carries them out asynchronously; `pollActions` follows them. Each
 * started action is recorded on the round before the next one starts, so a retried step starts
 * only what is not yet started. The host list is read once and kept current here.
 */
const startActions = async (session: Session, round: Round, deps: WorkflowDeps): Promise<Step> => {
  const host = round.host as string;
  const members = await deps.store.listMembers(session.session_id, round.seq);
  const actions = { ...round.actions };
  const onHost = new Map((await deps.cloud.listInstancesOnHost(host)).map((i) => [i.id, i]));
  const maintained = new Set(
    (await deps.store.listHosts(session.session_id)).filter((h) => h.maintained).map((h) => h.name),
  );
  const hosts = (await deps.cloud.listHosts()).map((h) => ({
    ...h,
    maintained: h.maintained || maintained.has(h.name),
  }));
  const type = hosts.find((h) => h.name === host)?.type ?? 'compute';
  const asked = members.flatMap((member) =>
    Object.entries(member.instance_actions ?? {}).map(([instance_id, action]) => ({
      instance_id,
      project_id: member.project_id,
      action,
    })),
  );
  for (const { instance_id, project_id, action } of asked) {
    const instance = onHost.get(instance_id);
    if (!instance || actions[instance_id]) continue;
    await deps.store.updateInstance(session.session_id, project_id, instance_id, { action, action_done: false });
    if (action === 'OWN_ACTION') continue;
    const started: CloudAction = {
      instance_id,
      project_id,
      action,
      from: host,
      started_at: deps.clock.now().toISOString(),
      status: 'RUNNING',
    };
    try {
      Object.assign(started, await startAction(instance, action, hosts, type, deps));
    } catch (error) {
      Object.assign(started, { status: 'FAILED', reason: actionFailure(started, errorMessage(error)) });
    }
    actions[instance_id] = started;
    await deps.store.setRoundActions(session.session_id, round.seq, actions);
    // The round fails on it: starting more would only move instances off a host that stays busy.
    if (started.status === 'FAILED') break;
  }
  // One look at once: an action the cloud finished already (the simulated cloud's, or a fast one)
  // goes on without a Wait state.
  return pollRound(session, { ...round, actions }, deps);
};

/** Follows the round's running actions one poll further (a Step Functions Wait state sits between polls). */
export const pollActions = async (sessionId: string, state: RoundState, deps: WorkflowDeps): Promise<Step> => {
  const session = await getSessionOrThrow(sessionId, deps);
  if (session.state !== state)
    return { next: session.state === 'MAINTENANCE_FAILED' ? 'MAINTENANCE_FAILED' : 'UNEXPECTED' };
  const round = await roundOfThisStep(session, state, deps);
  if (!round?.actions) return emptied(sessionId, state, deps);
  return pollRound(session, round, deps);
};

const pollRound = async (session: Session, round: Round, deps: WorkflowDeps): Promise<Step> => {
  const actions = { ...round.actions };
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
  return actionsStep(session, { ...round, actions }, deps, changed);
};

/**
 * Where a round's actions stand: each action done is recorded and told to its owner
 * (INSTANCE_ACTION_DONE, numbered from one block reserved on the round, so a retry re-sends the
 * same); then a failure ends the round (PREPARE falls back to SCALE_IN, PLANNED fails, naming the
 * server and the cloud's fault); while any runs, wait; when all are done, check that the host
 * emptied. The round's actions are written once, when a poll (`changed`) or a telling changed them.
 */
const actionsStep = async (session: Session, round: Round, deps: WorkflowDeps, changed = false): Promise<Step> => {
  const actions = Object.values(round.actions ?? {});
  const untold = actions.filter((action) => action.status === 'DONE' && !action.told);
  if (untold.length > 0) {
    const order = Object.keys(round.actions ?? {});
    const firstSeq = await deps.store.stampEventSeq(
      session.session_id,
      { round: round.seq },
      'actions_first_event_seq',
      Math.max(1, order.length),
    );
    for (const action of untold) {
      await deps.store.updateInstance(session.session_id, action.project_id, action.instance_id, {
        action_done: true,
        ...(action.host ? { host: action.host } : {}),
      });
      // Told at once, not at the end of the host: the owner may be waiting to re-point traffic.
      await publish([actionDoneEvent(session, action, firstSeq + order.indexOf(action.instance_id), deps)], deps);
      action.told = true;
    }
  }
  if (changed || untold.length > 0)
    await deps.store.setRoundActions(session.session_id, round.seq, round.actions ?? {});
  const failed = actions.find((action) => action.status === 'FAILED');
  if (failed)
    return cannotEmpty(session.session_id, round.state, failed.reason ?? actionFailure(failed, 'failed'), deps);
  const running = actions.filter((action) => action.status === 'RUNNING');
  if (running.length > 0) return { next: 'WAIT_ACTIONS', wait_seconds: pollWait(running, deps) };
  return emptied(session.session_id, round.state, deps);
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
 * Starts an instance action; a move goes to the best host of the (locally kept) host list, and when
 * the cloud finds our copy stale (another session took the room) it chooses itself.
 */
const startAction = async (
  instance: CloudInstance,
  action: CloudAction['action'],
  hosts: CloudHost[],
  type: CloudHost['type'],
  deps: Deps,
): Promise<Pick<CloudAction, 'target' | 'driver'>> => {
  if (action === 'EVICTION') return deps.cloud.startAction(instance, action);
  const target = pickTarget(hosts, instance.vcpus, type, instance.host);
  let started: Pick<CloudAction, 'target' | 'driver'>;
  try {
    started = await deps.cloud.startAction(instance, action, target?.name);
  } catch (error) {
    if (!(error instanceof ConflictError) || !target) throw error;
    started = await deps.cloud.startAction(instance, action);
  }
  const landed = hosts.find((h) => h.name === (started.target ?? target?.name));
  if (landed) landed.used_vcpus += instance.vcpus;
  return started;
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

/** Is the round's host empty yet? If not, wait (bounded) for OWN_ACTION projects to move their instances. */
export const emptied = async (sessionId: string, state: RoundState, deps: WorkflowDeps): Promise<Step> => {
  const session = await getSessionOrThrow(sessionId, deps);
  const round = await roundOfThisStep(session, state, deps);
  const host = round?.host;
  const left = host ? await deps.cloud.listInstancesOnHost(host) : [];
  if (left.length === 0) {
    if (round) await refreshMoved(round, deps);
    return { next: 'START_MAINTENANCE' };
  }
  const checks = await deps.store.increment(sessionId, 'empty_checks');
  if (checks > deps.workflow.emptyCheckAttempts) {
    const names = left.map((i) => `${i.id} (${i.project_id})`).join(', ');
    return cannotEmpty(sessionId, state, `host ${host} still holds ${names}`, deps);
  }
  return { next: 'WAIT_EMPTY', wait_seconds: deps.workflow.emptyCheckSeconds };
};

// ---------------------------------------------------------------- host maintenance

const sortedPlugins = (actions: ActionPlugin[], type: string) =>
  actions.filter((a) => a.type === type).sort((a, b) => a.plugin.localeCompare(b.plugin));

/**
 * Picks what START_MAINTENANCE does next: `pre` plug-ins once, then each empty compute, then
 * PLANNED for a compute still holding instances; when every compute is maintained, the controllers,
 * then `post` plug-ins once, then MAINTENANCE_COMPLETE. Hands over to a fresh execution when this
 * one has maintained its budget of hosts.
 */
export const nextHost = async (sessionId: string, deps: WorkflowDeps): Promise<Step> => {
  const session = await getSessionOrThrow(sessionId, deps);
  const attempt = session.execution_count ?? 1;
  const child = (host: string, phase: string) => ({
    next: 'MAINTAIN_HOST',
    host,
    phase,
    execution_name: `${sessionId}-${attempt}-${phase === 'host' ? `h${(session.maintained_count ?? 0) + 1}` : phase}`,
  });
  if (!session.pre_done && sortedPlugins(session.actions, 'pre').length > 0) return child('', 'pre');
  const [compute, controller] = await Promise.all([
    deps.store.firstPendingHost(sessionId, 'compute'),
    deps.store.firstPendingHost(sessionId, 'controller'),
  ]);
  if (
    (compute || controller) &&
    (session.maintained_count ?? 0) - (session.execution_base ?? 0) >= deps.workflow.hostsPerExecution
  ) {
    const name = `${sessionId}-${attempt + 1}`;
    await deps.store.updateSession(sessionId, {
      execution_name: name,
      execution_count: attempt + 1,
      execution_base: session.maintained_count ?? 0,
    });
    return { next: 'CONTINUE_AS_NEW', execution_name: name, resume_from: 'START_MAINTENANCE' };
  }
  if (compute) {
    const empty = await emptyPendingCompute(session, deps);
    if (empty) return child(empty, 'host');
    return { next: 'PLANNED_MAINTENANCE' };
  }
  if (controller) return child(controller, 'host');
  if (!session.post_done && sortedPlugins(session.actions, 'post').length > 0) return child('', 'post');
  return { next: 'MAINTENANCE_COMPLETE' };
};

/**
 * An empty compute still to maintain. The first pass looks at every session compute (those that
 * were empty from the start); after it, a compute only empties through a PREPARE/PLANNED round, so
 * only that round's host is checked — a constant cost per host. (A compute a project emptied by
 * itself meanwhile is still found: its PLANNED round asks nobody and goes straight on.)
 */
const emptyPendingCompute = async (session: Session, deps: Deps): Promise<string | undefined> => {
  const sessionId = session.session_id;
  if (!session.first_pass_done) {
    const pending = computes(await deps.store.listHosts(sessionId))
      .filter((h) => !h.maintained)
      .sort((a, b) => a.name.localeCompare(b.name));
    const used = new Map((await deps.cloud.listHosts()).map((h) => [h.name, h.used_vcpus]));
    const empty = pending.find((host) => used.get(host.name) === 0)?.name;
    if (!empty) await deps.store.updateSession(sessionId, { first_pass_done: true });
    return empty;
  }
  const round = await currentRound(session, deps);
  if (!round?.host) return undefined;
  const [host, cloudHost] = await Promise.all([
    deps.store.getHost(sessionId, round.host),
    deps.cloud.getHost(round.host),
  ]);
  return host && !host.maintained && host.type === 'compute' && cloudHost?.used_vcpus === 0 ? round.host : undefined;
};

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

const hostEvent = async (
  sessionId: string,
  host: string,
  state: 'IN_MAINTENANCE' | 'MAINTENANCE_COMPLETE',
  deps: Deps,
) => {
  const seq = await deps.store.stampEventSeq(
    sessionId,
    { host },
    state === 'IN_MAINTENANCE' ? 'in_seq' : 'complete_seq',
  );
  await publish(
    [
      {
        detailType: 'maintenance.host',
        detail: { service: 'fenix', session_id: sessionId, host, state, event_seq: seq },
      },
    ],
    deps,
  );
};

/** Starts a host (or a pre/post phase): checks it is empty, announces it, returns its plug-ins in order. */
export const hostBegin = async (sessionId: string, host: string, phase: string, deps: WorkflowDeps): Promise<Step> => {
  const session = await getSessionOrThrow(sessionId, deps);
  let plugins: ActionPlugin[];
  if (phase === 'host') {
    const hostItem = await deps.store.getHost(sessionId, host);
    if (!hostItem) throw new ConflictError(`host ${host} is not in session ${sessionId}`, 'unknown_host');
    const left = await deps.cloud.listInstancesOnHost(host);
    if (left.length > 0)
      throw new ConflictError(
        `host ${host} is not empty (${left.map((i) => i.id).join(', ')} still on it)`,
        'host_not_empty',
      );
    if (!hostItem.disabled) await disableHost(sessionId, hostItem, deps);
    await deps.store.updateHost(sessionId, host, { phase: 'IN_MAINTENANCE', started_at: new Date().toISOString() });
    await hostEvent(sessionId, host, 'IN_MAINTENANCE', deps);
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

/** Ends a host: MAINTENANCE_COMPLETE, enable it, mark it maintained (once). */
export const hostEnd = async (sessionId: string, host: string, phase: string, deps: Deps): Promise<Step> => {
  if (phase !== 'host') {
    await deps.store.updateSession(sessionId, phase === 'pre' ? { pre_done: true } : { post_done: true });
    return { next: 'DONE' };
  }
  await hostEvent(sessionId, host, 'MAINTENANCE_COMPLETE', deps);
  // Only what this session disabled is enabled again: a host disabled before it, or by someone else
  // meanwhile (another reason), stays as they left it.
  if (await deps.cloud.enableHost(host, disableReason(sessionId)))
    await deps.store.updateHost(sessionId, host, { disabled: false });
  if (await deps.store.markHostMaintained(sessionId, host)) await deps.store.increment(sessionId, 'maintained_count');
  const started = (await deps.store.getHost(sessionId, host))?.started_at;
  // Reported for the host-maintenance-duration metric (a CloudWatch metric filter on the logs).
  return { next: 'DONE', ...(started ? { host_duration_ms: Date.now() - new Date(started).getTime() } : {}) };
};

/** A host's child execution failed: record which plug-in (or step) and why, then fail the session. */
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
  if (host) await deps.store.updateHost(sessionId, host, { phase: 'FAILED', blocking_reason: reason });
  return failSession(sessionId, reason, deps, { host, ...(failedRun ? { plugin: failedRun.plugin } : {}) });
};

export { awaitRound, expireRound };
