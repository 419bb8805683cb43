import type { Deps } from './deps.js';
import { ConflictError, NotFoundError, NotReadyError, ValidationError } from './errors.js';
import { type FenixEvent, projectUrl } from './events.js';
import { historyKey, publish } from './history.js';
import type { Round, RoundMember, Session } from './model.js';
import { projectPolicy } from './policy.js';
import { type ProjectReply, parseReplyState } from './schemas.js';
import { getSessionOrThrow } from './sessions.js';
import { ALLOWED_ACTIONS, type RoundState, usesScaleInWindow } from './states.js';
import { addSeconds, toFenixTime } from './time.js';

/**
 * Reply rounds (DESIGN §10). A round is one item plus one membership item per expected project.
 * A reply moves its membership EXPECTED → REPLIED, the deadline moves it EXPECTED → SILENT; both are
 * conditional writes on the same item, so a reply racing the deadline is either counted or refused,
 * never both. Whoever sees the round complete closes it (OPEN → CLOSED, conditional) and only then
 * resumes the waiting execution, so the workflow is resumed once.
 */

export const replyWindowSeconds = (state: RoundState, deps: Pick<Deps, 'settings'>): number =>
  usesScaleInWindow(state) ? deps.settings.scaleInReplySeconds : deps.settings.maintenanceReplySeconds;

/** Every member of a round: those it waits for, then those it informs (one notification each). */
const memberCount = (round: Round): number => round.expected_count + (round.informed_count ?? 0);

/** The `event_seq` of a round's last notification: replies and silences are filed after it. */
export const lastNotificationSeq = (round: Round): number =>
  (round.first_event_seq ?? 0) + Math.max(0, memberCount(round) - 1);

/** The round the session is waiting on, if any. */
export const currentRound = async (session: Session, deps: Pick<Deps, 'store'>): Promise<Round | undefined> =>
  session.round_seq > 0 ? deps.store.getRound(session.session_id, session.round_seq) : undefined;

/** The hosts a PREPARE/PLANNED round empties (none for the project-wide rounds). */
export const roundHosts = (round: Pick<Round, 'host' | 'hosts'> | undefined): string[] =>
  round?.hosts ?? (round?.host ? [round.host] : []);

/**
 * A project the session does not list: 404 once the session has listed the instances on its hosts,
 * 409 `not_ready` (retry in a second) before, so a fast VNFM never mistakes "not yet" for "not there".
 */
const projectMissing = (session: Session, projectId: string) =>
  session.discovered_at
    ? new NotFoundError(`project ${projectId} has no instances in session ${session.session_id}`)
    : new NotReadyError(`session ${session.session_id} has not listed its instances yet; retry in a second`);

/**
 * `GET /v1/maintenance/{s}/{p}`: the project's instances affected by the current state. A host round
 * lists them on the project's membership (written when the round opened), so the read costs the
 * same whatever the size of the session; a `vnf` SCALE_IN round lists those it asks to remove; any
 * other project-wide round concerns all of them.
 */
export const getProjectInstances = async (sessionId: string, projectId: string, deps: Deps): Promise<string[]> => {
  const { store } = deps;
  const [session, project] = await Promise.all([
    getSessionOrThrow(sessionId, { store }),
    store.getProject(sessionId, projectId),
  ]);
  if (!project) throw projectMissing(session, projectId);
  const round = await currentRound(session, deps);
  // A host round (and a vnf SCALE_IN round, sized by the group budgets) lists them on the membership.
  const member = round ? await store.getMember(sessionId, round.seq, projectId) : undefined;
  if (member?.instance_ids || (round && roundHosts(round).length > 0)) return [...(member?.instance_ids ?? [])].sort();
  return (await store.listProjectInstances(sessionId, projectId)).map((instance) => instance.instance_id).sort();
};

const sameReply = (member: RoundMember, reply: ProjectReply): boolean =>
  member.reply_state === reply.state &&
  JSON.stringify(Object.entries(member.instance_actions ?? {}).sort()) ===
    JSON.stringify(Object.entries(reply.instance_actions).sort());

/**
 * `PUT /v1/maintenance/{s}/{p}`: records a project's reply to the round the session waits on.
 * 1. 404 for an unknown session or a project not in it; 409 when no round is open, the round is
 *    for another state, or the project is not expected in it.
 * 2. 400 when an instance is not the project's, an action is not allowed in this round, or (ACK of
 *    PREPARE/PLANNED) an instance on the host being emptied has no action.
 * 3. Record it (EXPECTED → REPLIED before the deadline). A repeat of the recorded reply is a no-op
 *    200; a different one, or one after the deadline, is a 409.
 * 4. A NACK, or the reply that completes the round, closes it and resumes the workflow.
 */
export const replyToRound = async (
  sessionId: string,
  projectId: string,
  reply: ProjectReply,
  repliedBy: string,
  deps: Deps,
): Promise<{ latency_ms?: number }> => {
  const { store } = deps;
  const [session, project] = await Promise.all([
    getSessionOrThrow(sessionId, { store }),
    store.getProject(sessionId, projectId),
  ]);
  if (!project) throw projectMissing(session, projectId);
  const round = await currentRound(session, deps);
  const answered = parseReplyState(reply.state);
  if (!round)
    throw new ConflictError(`session ${sessionId} is not waiting for replies (state ${session.state})`, 'not_waiting');
  if (answered.state !== round.state) {
    throw new ConflictError(
      `session ${sessionId} waits for ACK_${round.state} or NACK_${round.state}, not ${reply.state}`,
      'wrong_state',
    );
  }
  const member = await deps.store.getMember(sessionId, round.seq, projectId);
  if (!member)
    throw new ConflictError(
      `project ${projectId} is not asked to reply in this round of ${round.state}`,
      'not_expected',
    );
  if (member.status === 'INFORMED') {
    const { default_action } = projectPolicy(session, projectId);
    const why = project.silent_in
      ? `it stayed silent in ${project.silent_in}`
      : 'no subscription delivers its notifications, or the session policy says so';
    throw new ConflictError(
      `project ${projectId} is not interacting in this session (${why}): the engine gives its instances the default action ${default_action}`,
      'not_interacting',
    );
  }

  await validateInstanceActions(session, round, member, reply, answered.verdict, deps);

  if (member.status === 'REPLIED') {
    if (!sameReply(member, reply)) {
      throw new ConflictError(
        `project ${projectId} already replied ${member.reply_state} in this round`,
        'already_replied',
      );
    }
    // An identical repeat changes nothing, but finishes what a crashed first try may have left undone.
    await settleRound(round, deps);
    return {};
  }
  if (member.status === 'SILENT' || round.status === 'CLOSED') {
    throw new ConflictError(`the reply window of this ${round.state} round has closed`, 'round_closed');
  }
  const now = deps.clock.now().toISOString();
  const recorded = await deps.store.recordReply(
    { ...member, reply_state: reply.state, instance_actions: reply.instance_actions, replied_by: repliedBy },
    round.deadline,
    now,
  );
  if (!recorded) {
    // Lost a race: with our own duplicate (same reply → fine) or with the deadline (→ 409).
    const now = await deps.store.getMember(sessionId, round.seq, projectId);
    if (now?.status === 'REPLIED' && sameReply(now, reply)) return settleRound(round, deps).then(() => ({}));
    if (now?.status === 'REPLIED')
      throw new ConflictError(`project ${projectId} already replied ${now.reply_state}`, 'already_replied');
    throw new ConflictError(`the reply window of this ${round.state} round has closed`, 'round_closed');
  }
  await recordInHistory(round, projectId, reply, repliedBy, now, deps);
  await settleRound(round, deps);
  // How long the project took to answer, for the reply-latency metric.
  return { latency_ms: new Date(now).getTime() - new Date(round.opened_at).getTime() };
};

/** Files the reply in the session history, after its round's notifications. */
const recordInHistory = async (
  round: Round,
  projectId: string,
  reply: ProjectReply,
  repliedBy: string,
  at: string,
  deps: Deps,
) => {
  const seq = lastNotificationSeq(round);
  await deps.store.putHistory([
    {
      session_id: round.session_id,
      key: historyKey(seq, `reply#${projectId}`),
      entry: {
        at,
        seq,
        what: 'reply',
        state: round.state,
        project_id: projectId,
        reply: reply.state,
        replied_by: repliedBy,
        ...(Object.keys(reply.instance_actions).length ? { instance_actions: reply.instance_actions } : {}),
      },
    },
  ]);
};

/**
 * Every named instance must be the project's (a batch read of just those), every action allowed in
 * the round, and an ACK of a host round must name every instance of the project on its hosts.
 */
const validateInstanceActions = async (
  session: Session,
  round: Round,
  member: RoundMember,
  reply: ProjectReply,
  verdict: 'ACK' | 'NACK',
  deps: Deps,
): Promise<void> => {
  const named = Object.entries(reply.instance_actions);
  const needsActions = verdict === 'ACK' && ALLOWED_ACTIONS[round.state].length > 0;
  if (named.length === 0 && !needsActions) return;
  const concerned = roundHosts(round).length > 0 ? (member.instance_ids ?? []) : undefined;
  const inRound = new Set(concerned ?? []);
  const others = named.map(([id]) => id).filter((id) => !inRound.has(id));
  const known = new Set([
    ...inRound,
    ...(others.length ? await deps.store.getProjectInstances(session.session_id, member.project_id, others) : []).map(
      (instance) => instance.instance_id,
    ),
  ]);
  const allowed = ALLOWED_ACTIONS[round.state];
  for (const [instanceId, action] of named) {
    if (!known.has(instanceId)) {
      throw new ValidationError(
        `instance_actions: instance ${instanceId} is not an instance of project ${member.project_id} in this session`,
      );
    }
    if (!allowed.includes(action)) {
      throw new ValidationError(
        `instance_actions: ${action} is not allowed in ${round.state}${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ' (no actions are)'}`,
      );
    }
  }
  if (needsActions && concerned) {
    const missing = concerned.filter((id) => !(id in reply.instance_actions));
    if (missing.length > 0) {
      throw new ValidationError(
        `instance_actions: every instance on ${roundHosts(round).join(', ')} needs an action; missing ${missing.join(', ')}`,
      );
    }
  }
};

/**
 * Decides the round once it can be decided: any NACK ends it as NACK, all REPLIED (ACK) as ACK.
 * The conditional close picks one winner, and only the winner resumes the workflow. A round found
 * already closed (a repeated reply, or the wait that has just stored its token) re-sends the
 * outcome: that heals a crash between close and send, and Step Functions accepts a token once
 * (later sends get TaskTimedOut and are ignored).
 */
export const settleRound = async (round: Round, deps: Deps): Promise<void> => {
  if (round.status === 'OPEN') {
    const members = await deps.store.listMembers(round.session_id, round.seq);
    const nack = members.some((m) => m.status === 'REPLIED' && m.reply_state?.startsWith('NACK_'));
    const complete = members.every((m) => m.status === 'REPLIED' || m.status === 'INFORMED');
    if (!nack && !complete) return;
    const won = await deps.store.closeRound(round.session_id, round.seq, nack ? 'NACK' : 'ACK');
    if (!won) return;
  }
  const latest = await deps.store.getRound(round.session_id, round.seq);
  if (latest?.token && latest.status === 'CLOSED') {
    await deps.engine.succeedTask(latest.token, { outcome: latest.outcome ?? 'ACK', round_seq: round.seq });
  }
};

/**
 * Opens a round for `state` (optionally about one host) that waits for `projectIds` and informs
 * `options.informed` (non-interacting projects). A round that waits for nobody is decided (ACK) at
 * once: its notifications still go out when the workflow awaits it, and the wait ends immediately.
 */
export const openRound = async (
  session: Session,
  state: RoundState,
  projectIds: string[],
  deps: Deps,
  options: { hosts?: string[]; actionsAt?: Date; informed?: string[]; instancesByProject?: Map<string, string[]> } = {},
): Promise<Round> => {
  const existing = await currentRound(session, deps);
  const hosts = options.hosts ?? [];
  // A retried task finds the round it opened before, still open, and reuses it.
  if (
    existing &&
    existing.status === 'OPEN' &&
    existing.state === state &&
    roundHosts(existing).join() === hosts.join()
  )
    return existing;
  const now = deps.clock.now();
  const window = replyWindowSeconds(state, deps);
  const deadline = addSeconds(now, window);
  const round: Round = {
    session_id: session.session_id,
    seq: session.round_seq + 1,
    state,
    ...(hosts[0] ? { host: hosts[0], hosts } : {}),
    status: 'OPEN',
    expected_count: projectIds.length,
    ...(options.informed?.length ? { informed_count: options.informed.length } : {}),
    opened_at: now.toISOString(),
    deadline: deadline.toISOString(),
    actions_at: (options.actionsAt && options.actionsAt > deadline ? options.actionsAt : deadline).toISOString(),
  };
  await deps.store.createRound(round, projectIds, options.informed ?? [], options.instancesByProject);
  await deps.store.updateSession(session.session_id, { round_seq: round.seq, updated_at: now.toISOString() });
  if (projectIds.length === 0 && (await deps.store.closeRound(session.session_id, round.seq, 'ACK'))) {
    return { ...round, status: 'CLOSED', outcome: 'ACK' };
  }
  return round;
};

/** Seconds left until the round's deadline, at least 1 (Step Functions' TimeoutSeconds minimum). */
export const secondsLeft = (round: Round, deps: Pick<Deps, 'clock'>): number =>
  Math.max(1, Math.ceil((new Date(round.deadline).getTime() - deps.clock.now().getTime()) / 1000));

/**
 * Attaches the waiting task's token to the round, then notifies every expected project. The event
 * numbers are reserved on the first try and kept, so a retried wait sends identical events. If the
 * round was decided before the token arrived, the outcome is sent straight back.
 */
export const awaitRound = async (sessionId: string, seq: number, token: string, deps: Deps): Promise<void> => {
  const session = await getSessionOrThrow(sessionId, deps);
  const round = await deps.store.getRound(sessionId, seq);
  if (!round) throw new NotFoundError(`round ${seq} of session ${sessionId} does not exist`);
  const firstSeq =
    round.first_event_seq ?? (await deps.store.allocateEventSeq(sessionId, Math.max(1, memberCount(round))));
  const withToken = await deps.store.setRoundToken(sessionId, seq, token, firstSeq);
  const members = await deps.store.listMembers(sessionId, seq);
  const [asked, informed] = [
    members.filter((member) => member.status !== 'INFORMED'),
    members.filter((member) => member.status === 'INFORMED'),
  ];
  await publish(
    asked.map((member) => scheduledEvent(session, withToken, member, deps)),
    deps,
  );
  // The same notification, filed as information: the session does not wait for these projects.
  if (informed.length > 0) {
    await publish(
      informed.map((member) => scheduledEvent(session, withToken, member, deps)),
      deps,
      { informed: true },
    );
  }
  if (withToken.status === 'CLOSED') await settleRound(withToken, deps);
};

const scheduledEvent = (session: Session, round: Round, member: RoundMember, deps: Deps): FenixEvent => {
  const url = projectUrl(deps.settings.apiBaseUrl, session.session_id, member.project_id);
  return {
    detailType: 'maintenance.scheduled',
    detail: {
      service: 'fenix',
      session_id: session.session_id,
      project_id: member.project_id,
      state: round.state,
      instance_ids: url,
      reply_url: url,
      allowed_actions: [...ALLOWED_ACTIONS[round.state]],
      actions_at: toFenixTime(round.actions_at),
      reply_at: toFenixTime(round.deadline),
      metadata: session.metadata,
      event_seq: (round.first_event_seq ?? 0) + member.index,
    },
  };
};

/**
 * The deadline passed (States.Timeout). Every still-EXPECTED member becomes SILENT; a project whose
 * reply landed first is counted. Returns the round's final outcome and the silent projects.
 */
export const expireRound = async (
  sessionId: string,
  seq: number,
  deps: Deps,
): Promise<{ outcome: NonNullable<Round['outcome']>; silent: string[] }> => {
  const members = await deps.store.listMembers(sessionId, seq);
  const silent: string[] = [];
  for (const member of members.filter((m) => m.status === 'EXPECTED')) {
    if (await deps.store.markSilent(sessionId, seq, member.project_id)) silent.push(member.project_id);
  }
  const latest = await deps.store.listMembers(sessionId, seq);
  const nack = latest.some((m) => m.status === 'REPLIED' && m.reply_state?.startsWith('NACK_'));
  const outcome = silent.length > 0 ? 'TIMEOUT' : nack ? 'NACK' : 'ACK';
  await deps.store.closeRound(sessionId, seq, outcome);
  const round = await deps.store.getRound(sessionId, seq);
  return { outcome: round?.outcome ?? outcome, silent };
};
