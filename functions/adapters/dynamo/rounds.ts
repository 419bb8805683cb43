import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ConflictError } from '../../core/errors.js';
import type { Round, RoundMember } from '../../core/model.js';
import type { RoundRecords } from '../../core/ports.js';
import { batchPut, getItem, isConditionFailure, listPrefix, type Table, updateIf } from './helpers.js';
import { memberSk, membersPrefix, roundSk, sessionPk, strip } from './keys.js';

/** Reply rounds and their members: one member item a project, which its reply or its silence closes. */
export const roundRecords = (table: Table): RoundRecords => {
  const { db, tableName } = table;
  return {
    async createRound(round, projectIds, informedIds = [], instancesByProject) {
      const pk = sessionPk(round.session_id);
      const members = [
        ...projectIds.map((projectId) => ({ projectId, status: 'EXPECTED' })),
        ...informedIds.map((projectId) => ({ projectId, status: 'INFORMED' })),
      ];
      // Members first, the round item last: a round is only visible once all its members exist.
      await batchPut(
        table,
        members.map(({ projectId, status }, index) => ({
          pk,
          sk: memberSk(round.seq, projectId),
          kind: 'member',
          session_id: round.session_id,
          seq: round.seq,
          project_id: projectId,
          status,
          index,
          ...(instancesByProject ? { instance_ids: instancesByProject.get(projectId) ?? [] } : {}),
        })),
      );
      try {
        await db.send(
          new PutCommand({
            TableName: tableName,
            Item: { pk, sk: roundSk(round.seq), kind: 'round', ...round },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
      } catch (error) {
        if (isConditionFailure(error)) throw new ConflictError(`round ${round.seq} already exists`, 'round_exists');
        throw error;
      }
    },

    getRound: async (sessionId, seq) => getItem<Round>(table, { pk: sessionPk(sessionId), sk: roundSk(seq) }),

    async setRoundToken(sessionId, seq, token, firstEventSeq) {
      const result = await db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { pk: sessionPk(sessionId), sk: roundSk(seq) },
          // The event numbers are kept from the first try, so a retried wait re-sends the same events.
          UpdateExpression: 'SET #token = :token, first_event_seq = if_not_exists(first_event_seq, :first)',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#token': 'token' },
          ExpressionAttributeValues: { ':token': token, ':first': firstEventSeq },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return strip<Round>(result.Attributes ?? {});
    },

    closeRound: async (sessionId, seq, outcome) =>
      updateIf(table, {
        Key: { pk: sessionPk(sessionId), sk: roundSk(seq) },
        UpdateExpression: 'SET #status = :closed, outcome = :outcome',
        ConditionExpression: '#status = :open',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':closed': 'CLOSED', ':open': 'OPEN', ':outcome': outcome },
      }),

    listMembers: async (sessionId, seq) => listPrefix<RoundMember>(table, sessionId, membersPrefix(seq)),

    getMember: async (sessionId, seq, projectId) =>
      getItem<RoundMember>(table, { pk: sessionPk(sessionId), sk: memberSk(seq, projectId) }),

    recordReply: async (member, deadline, now) =>
      updateIf(table, {
        Key: { pk: sessionPk(member.session_id), sk: memberSk(member.seq, member.project_id) },
        UpdateExpression:
          'SET #status = :replied, reply_state = :state, instance_actions = :actions, replied_at = :now, replied_by = :by',
        ConditionExpression: '#status = :expected AND :now < :deadline',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':replied': 'REPLIED',
          ':expected': 'EXPECTED',
          ':state': member.reply_state,
          ':actions': member.instance_actions ?? {},
          ':now': now,
          ':deadline': deadline,
          ':by': member.replied_by ?? 'anonymous',
        },
      }),

    async recordInstanceReply(member) {
      try {
        await db.send(
          new PutCommand({
            TableName: tableName,
            Item: {
              pk: sessionPk(member.session_id),
              sk: memberSk(member.seq, `${member.project_id}#${member.instance_id}`),
              kind: 'member',
              ...member,
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false;
        throw error;
      }
    },

    async setDefaultActions(sessionId, seq, projectId, actions) {
      await updateIf(table, {
        Key: { pk: sessionPk(sessionId), sk: memberSk(seq, projectId) },
        UpdateExpression: 'SET instance_actions = if_not_exists(instance_actions, :actions)',
        ConditionExpression: 'attribute_exists(pk) AND #status <> :replied',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':actions': actions, ':replied': 'REPLIED' },
      });
    },

    markSilent: async (sessionId, seq, projectId) =>
      updateIf(table, {
        Key: { pk: sessionPk(sessionId), sk: memberSk(seq, projectId) },
        UpdateExpression: 'SET #status = :silent',
        ConditionExpression: '#status = :expected',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':silent': 'SILENT', ':expected': 'EXPECTED' },
      }),

    async setRoundProgress(sessionId, seq, progress) {
      const fields = Object.entries(progress).filter(([, value]) => value !== undefined);
      if (fields.length === 0) return;
      await db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { pk: sessionPk(sessionId), sk: roundSk(seq) },
          UpdateExpression: `SET ${fields.map(([key]) => `${key} = :${key}`).join(', ')}`,
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: Object.fromEntries(fields.map(([key, value]) => [`:${key}`, value])),
        }),
      );
    },
  };
};
