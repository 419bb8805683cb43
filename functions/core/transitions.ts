import type { Deps } from './deps.js';
import { publish } from './history.js';
import type { Session } from './model.js';
import type { SessionState } from './states.js';

/** Session state changes: every one is persisted, stamped with an event_seq and announced. */

export const percentDone = (session: Session): number =>
  session.state === 'MAINTENANCE_DONE'
    ? 100
    : Math.floor((100 * (session.maintained_count ?? 0)) / Math.max(1, session.host_count));

/** Enters `to`, then publishes `maintenance.session` with the seq stamped on the step. */
export const moveTo = async (
  sessionId: string,
  to: SessionState,
  deps: Deps,
  changes: Partial<Session> = {},
  reenter = false,
): Promise<Session> => {
  const { session, previous, seq } = await deps.store.transition(sessionId, to, { ...changes }, { reenter });
  await publish(
    [
      {
        detailType: 'maintenance.session',
        detail: {
          service: 'fenix',
          session_id: sessionId,
          state: session.state,
          previous_state: previous,
          percent_done: percentDone(session),
          event_seq: seq,
        },
      },
    ],
    deps,
    session.failure && to === 'MAINTENANCE_FAILED' ? { reason: session.failure.reason } : undefined,
  );
  return session;
};

export const failSession = async (
  sessionId: string,
  reason: string,
  deps: Deps,
  details?: Record<string, unknown>,
): Promise<{ next: 'MAINTENANCE_FAILED'; reason: string }> => {
  const session = await deps.store.getSession(sessionId);
  if (!session) return { next: 'MAINTENANCE_FAILED', reason };
  if (session.state !== 'MAINTENANCE_FAILED') {
    await moveTo(sessionId, 'MAINTENANCE_FAILED', deps, { failure: { reason, ...(details ? { details } : {}) } });
  }
  return { next: 'MAINTENANCE_FAILED', reason };
};

/**
 * The readable part of a Step Functions error: a Lambda's `errorType: errorMessage`, or, for a
 * child execution that failed, its own error and cause (they come wrapped in a JSON description).
 */
export const errorText = (error: { Error?: string; Cause?: string }): string => {
  let cause: unknown;
  try {
    cause = JSON.parse(error.Cause ?? '');
  } catch {
    cause = undefined;
  }
  if (cause && typeof cause === 'object') {
    const fields = cause as Record<string, unknown>;
    if (typeof fields.errorMessage === 'string')
      return `${typeof fields.errorType === 'string' ? fields.errorType : (error.Error ?? 'Error')}: ${fields.errorMessage}`;
    if (typeof fields.error === 'string')
      return errorText({ Error: fields.error, ...(typeof fields.cause === 'string' ? { Cause: fields.cause } : {}) });
  }
  return `${error.Error ?? 'error'}${error.Cause ? `: ${error.Cause}` : ''}`.slice(0, 1000);
};
