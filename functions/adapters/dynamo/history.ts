import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { ValidationError } from '../../core/errors.js';
import type { PluginRun } from '../../core/model.js';
import type { HistoryRecords } from '../../core/ports.js';
import { batchPut, listPrefix, type Table } from './helpers.js';
import {
  HISTORY_PREFIX,
  historySk,
  INSTANCE_PREFIX,
  PLUGIN_RUN_PREFIX,
  pluginRunSk,
  sessionPk,
  strip,
} from './keys.js';

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

    // Also pages the instances (an inventory list): the detail's two long lists share this code, which writes nothing.
    async page<T>(
      sessionId: string,
      list: 'history' | 'instances',
      limit: number,
      next?: string,
    ): Promise<{ items: T[]; next?: string }> {
      const prefix = list === 'history' ? HISTORY_PREFIX : INSTANCE_PREFIX;
      let start: Record<string, unknown> | undefined;
      if (next) {
        const sk = Buffer.from(next, 'base64url').toString('utf8');
        // A token is only ever a key of this list: anything else is a client error, not a scan.
        if (!sk.startsWith(prefix)) throw new ValidationError(`${list}_next: not a token of this list`);
        start = { pk: sessionPk(sessionId), sk };
      }
      // The page is cut here rather than with Limit: dynalite's Limit path can crash the local
      // runtime (its read-ahead stream reads a closed LevelDB iterator). One Query reads at most 1 MB.
      const page = await db.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': sessionPk(sessionId), ':prefix': prefix },
          ExclusiveStartKey: start,
          ConsistentRead: true,
        }),
      );
      const items = (page.Items ?? []).slice(0, limit);
      const more = (page.Items?.length ?? 0) > limit || page.LastEvaluatedKey !== undefined;
      const last = items.at(-1)?.sk as string | undefined;
      return {
        items: items.map((item) => strip<T>(item)),
        ...(more && last ? { next: Buffer.from(last).toString('base64url') } : {}),
      };
    },

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
