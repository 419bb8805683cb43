import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { PluginRun } from '../../core/model.js';
import type { HistoryRecords } from '../../core/ports.js';
import { batchPut, listPrefix, pagePrefix, type Table } from './helpers.js';
import { HISTORY_PREFIX, historySk, INSTANCE_PREFIX, PLUGIN_RUN_PREFIX, pluginRunSk, sessionPk } from './keys.js';

/** What a session did: its history entries and the runs of its plug-ins. */
export const historyRecords = (table: Table): HistoryRecords => {
  const { db, tableName } = table;
  return {
    async putHistory(entries) {
      await batchPut(
        table,
        entries.map(({ session_id, key, entry }) => ({
          pk: sessionPk(session_id),
          sk: historySk(key),
          kind: 'history',
          ...entry,
        })),
      );
    },

    // The detail's two long lists (history, and the inventory's instances) page the same way.
    page: async <T>(sessionId: string, list: 'history' | 'instances', limit: number, next?: string) =>
      pagePrefix<T>(
        table,
        sessionId,
        list === 'history' ? HISTORY_PREFIX : INSTANCE_PREFIX,
        limit,
        next,
        `${list}_next`,
      ),

    async putPluginRun(run) {
      await db.send(
        new PutCommand({
          TableName: tableName,
          Item: { pk: sessionPk(run.session_id), sk: pluginRunSk(run), kind: 'plugin_run', ...run },
        }),
      );
    },

    listPluginRuns: async (sessionId) => listPrefix<PluginRun>(table, sessionId, PLUGIN_RUN_PREFIX),
  };
};
