import type { Deps } from './deps.js';
import type { FenixEvent } from './events.js';
import type { HistoryEntry } from './model.js';

/**
 * The session's history (GET …/detail): one entry per published event, keyed by its `event_seq`,
 * so the order is the order of the steps and a retried step rewrites the same entry instead of
 * adding one; replies are filed after the notifications of their round.
 */
export const historyKey = (seq: number, suffix: string): string => `${String(seq).padStart(9, '0')}#${suffix}`;

const describe = (event: FenixEvent): Omit<HistoryEntry, 'at' | 'seq'> => {
  switch (event.detailType) {
    case 'maintenance.session':
      return {
        what: 'state',
        state: event.detail.state,
        ...(event.detail.previous_state ? { previous_state: event.detail.previous_state } : {}),
      };
    case 'maintenance.host':
      return { what: 'host', state: event.detail.state, host: event.detail.host };
    case 'maintenance.scheduled':
      return {
        what: event.detail.state === 'INSTANCE_ACTION_DONE' ? 'instance_action_done' : 'notification',
        state: event.detail.state,
        project_id: event.detail.project_id,
        ...(Array.isArray(event.detail.instance_ids) ? { instance_ids: event.detail.instance_ids } : {}),
        ...(event.detail.reply_at ? { reply_at: event.detail.reply_at } : {}),
      };
  }
};

/** Records each event in the history, then publishes them (the record first: nothing is published unrecorded). */
export const publish = async (
  events: FenixEvent[],
  deps: Pick<Deps, 'store' | 'events'>,
  details?: Record<string, unknown>,
): Promise<void> => {
  const at = new Date().toISOString();
  await deps.store.putHistory(
    events.map((event) => ({
      session_id: event.detail.session_id,
      key: historyKey(
        event.detail.event_seq,
        event.detailType === 'maintenance.scheduled' ? `event#${event.detail.project_id}` : 'event',
      ),
      entry: { at, seq: event.detail.event_seq, ...describe(event), ...(details ?? {}) },
    })),
  );
  await deps.events.publish(events);
};
