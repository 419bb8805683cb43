import type { Deps } from './deps.js';
import { ConflictError, NotFoundError, ValidationError } from './errors.js';
import { historyKey } from './history.js';
import { wake } from './rollout.js';
import { currentRound } from './rounds.js';
import { type InstanceReply, parseReplyState } from './schemas.js';
import { getSessionOrThrow } from './sessions.js';
import { ALLOWED_ACTIONS } from './states.js';
import { toFenixTime } from './time.js';

/**
 * `PUT /v1/maintenance/{s}/{p}/{instance_id}` (workflow `vnf`, DESIGN §12): the owner's answer about
 * one instance it was notified of. Checks, in order:
 * 1. 404 unknown session, or an instance this round does not move for that project;
 * 2. 409 when the session is not `vnf`, no host round is under way, the reply names another state,
 *    the instance was not asked (not notified yet, or its project does not interact), or its
 *    `reply_at` has passed;
 * 3. 400 when the action is not allowed.
 * A repeat of the filed reply is a no-op 200; a different one is a 409. A filed reply wakes the
 * session execution, which starts the action as its group's budget allows.
 */
export const replyForInstance = async (
  sessionId: string,
  projectId: string,
  instanceId: string,
  reply: InstanceReply,
  repliedBy: string,
  deps: Deps,
): Promise<{ latency_ms?: number }> => {
  const session = await getSessionOrThrow(sessionId, deps);
  if (session.workflow !== 'vnf') {
    throw new ConflictError(
      `session ${sessionId} runs workflow ${session.workflow}: instances are answered per project (PUT /v1/maintenance/${sessionId}/${projectId})`,
      'not_vnf',
    );
  }
  const round = await currentRound(session, deps);
  const step = round?.instances?.[instanceId];
  if (!round?.hosts?.length || session.state !== round.state)
    throw new ConflictError(`session ${sessionId} is not moving instances now (state ${session.state})`, 'not_waiting');
  if (!step || step.project_id !== projectId)
    throw new NotFoundError(`instance ${instanceId} of project ${projectId} is not moved in this ${round.state} round`);
  const answered = parseReplyState(reply.state);
  if (answered.state !== round.state) {
    throw new ConflictError(
      `instance ${instanceId} waits for ACK_${round.state} or NACK_${round.state}, not ${reply.state}`,
      'wrong_state',
    );
  }
  if (!ALLOWED_ACTIONS[round.state].includes(reply.instance_action))
    throw new ValidationError(`instance_action: ${reply.instance_action} is not allowed in ${round.state}`);
  if (!step.ask || !step.notified_at || !step.reply_at) {
    throw new ConflictError(
      step.ask
        ? `instance ${instanceId} has not been notified yet (its group's budget holds it back)`
        : `project ${projectId} is not interacting in this session: the engine gives instance ${instanceId} its migration_type`,
      step.ask ? 'not_notified' : 'not_interacting',
    );
  }
  const member = {
    session_id: sessionId,
    seq: round.seq,
    project_id: projectId,
    instance_id: instanceId,
    status: 'REPLIED' as const,
    index: -1,
    reply_state: reply.state,
    instance_actions: { [instanceId]: reply.instance_action },
    replied_by: repliedBy,
  };
  const now = deps.clock.now();
  // One read: a per-instance reply is filed under its project and instance (recordInstanceReply).
  const filed = await deps.store.getMember(sessionId, round.seq, `${projectId}#${instanceId}`);
  if (filed) {
    if (filed.reply_state === reply.state && filed.instance_actions?.[instanceId] === reply.instance_action) return {};
    throw new ConflictError(`instance ${instanceId} already has the reply ${filed.reply_state}`, 'already_replied');
  }
  if (step.action || now.getTime() >= Date.parse(step.reply_at)) {
    throw new ConflictError(
      `the reply window of instance ${instanceId} closed at ${toFenixTime(step.reply_at)}`,
      'round_closed',
    );
  }
  if (!(await deps.store.recordInstanceReply({ ...member, replied_at: now.toISOString() }))) {
    throw new ConflictError(`instance ${instanceId} already has a reply`, 'already_replied');
  }
  const seq = step.event_seq ?? round.first_event_seq ?? 0;
  await deps.store.putHistory([
    {
      session_id: sessionId,
      key: historyKey(seq, `reply#${projectId}#${instanceId}`),
      entry: {
        at: now.toISOString(),
        seq,
        what: 'reply',
        state: round.state,
        project_id: projectId,
        instance_ids: [instanceId],
        reply: reply.state,
        replied_by: repliedBy,
        instance_actions: { [instanceId]: reply.instance_action },
      },
    },
  ]);
  await wake(sessionId, deps);
  return { latency_ms: now.getTime() - Date.parse(step.notified_at) };
};
