import { DeleteCommand, type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { ConstraintStore, GroupConstraint, InstanceConstraint } from '../../core/constraints.js';
import { batchGet, getItem, readAll, type Table } from './helpers.js';
import {
  groupConstraintKey,
  groupMemberSk,
  groupMembersKey,
  groupMembersProjectPrefix,
  instanceConstraintKey,
  strip,
} from './keys.js';

/**
 * The ConstraintStore port on the single table (layout in keys.ts): one item a constraint, in
 * partitions of their own (`CONSTRAINT#…`), never under a session. An instance naming a group is
 * indexed on gsi1 under the group, sorted by project, which is how a group's members are listed
 * (an index read: a member stored a moment ago may be missing for a fraction of a second).
 */
export const constraintRecords = (table: Table): ConstraintStore => {
  const { db, tableName } = table;
  const getGroup = (groupId: string) => getItem<GroupConstraint>(table, groupConstraintKey(groupId));
  return {
    async putInstance(constraint) {
      const member = constraint.group_id
        ? {
            gsi1pk: groupMembersKey(constraint.group_id),
            gsi1sk: groupMemberSk(constraint.project_id, constraint.instance_id),
          }
        : {};
      await db.send(
        new PutCommand({
          TableName: tableName,
          Item: {
            ...instanceConstraintKey(constraint.instance_id),
            kind: 'instance_constraint',
            ...member,
            ...constraint,
          },
        }),
      );
    },

    getInstance: (instanceId) => getItem<InstanceConstraint>(table, instanceConstraintKey(instanceId)),

    async deleteInstance(instanceId) {
      await db.send(new DeleteCommand({ TableName: tableName, Key: instanceConstraintKey(instanceId) }));
    },

    getInstances: (instanceIds) => batchGet<InstanceConstraint>(table, instanceIds.map(instanceConstraintKey)),

    async putGroup(constraint) {
      await db.send(
        new PutCommand({
          TableName: tableName,
          Item: { ...groupConstraintKey(constraint.group_id), kind: 'group_constraint', ...constraint },
        }),
      );
    },

    getGroup,

    async deleteGroup(groupId) {
      await db.send(new DeleteCommand({ TableName: tableName, Key: groupConstraintKey(groupId) }));
    },

    getGroups: (groupIds) => batchGet<GroupConstraint>(table, groupIds.map(groupConstraintKey)),

    async listGroupInstances(groupId) {
      const group = await getGroup(groupId);
      if (!group) return [];
      const items = await readAll(table, {
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk AND begins_with(gsi1sk, :project)',
        ExpressionAttributeValues: {
          ':pk': groupMembersKey(groupId),
          ':project': groupMembersProjectPrefix(group.project_id),
        },
      });
      return items.map((item) => strip<InstanceConstraint>(item));
    },
  };
};

export const DynamoConstraintStore = (db: DynamoDBDocumentClient, tableName: string): ConstraintStore =>
  constraintRecords({ db, tableName });
