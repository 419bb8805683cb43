import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SessionHost, SessionInstance, SessionProject } from '../../core/model.js';
import type { InventoryRecords } from '../../core/ports.js';
import { batchDelete, batchGet, batchPut, getItem, listPrefix, setChanges, type Table, updateIf } from './helpers.js';
import {
  HOST_PREFIX,
  hostSk,
  INSTANCE_PREFIX,
  instanceSk,
  PROJECT_PREFIX,
  pendingHostsKey,
  pendingHostsTypePrefix,
  projectInstancesPrefix,
  projectSk,
  sessionPk,
} from './keys.js';

/** What a session works on: its hosts (and the index of those still pending), projects and instances. */
export const inventoryRecords = (table: Table): InventoryRecords => {
  const { db, tableName } = table;
  /** Sets `changes` on an item that must exist (ConditionalCheckFailed otherwise: nothing is created). */
  const updateExisting = async (Key: Record<string, string>, changes: object) => {
    await db.send(
      new UpdateCommand({
        TableName: tableName,
        Key,
        ConditionExpression: 'attribute_exists(pk)',
        ...setChanges(changes),
      }),
    );
  };
  const pendingHosts = async (sessionId: string, type: SessionHost['type'], limit: number): Promise<string[]> => {
    const page = await db.send(
      new QueryCommand({
        TableName: tableName,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk AND begins_with(gsi1sk, :type)',
        ExpressionAttributeValues: { ':pk': pendingHostsKey(sessionId), ':type': pendingHostsTypePrefix(type) },
        Limit: limit,
      }),
    );
    return (page.Items ?? []).map((item) => item.name as string);
  };
  return {
    listHosts: async (sessionId) => listPrefix<SessionHost>(table, sessionId, HOST_PREFIX),

    getHost: async (sessionId, name) => getItem<SessionHost>(table, { pk: sessionPk(sessionId), sk: hostSk(name) }),

    firstPendingHost: async (sessionId, type) => (await pendingHosts(sessionId, type, 1))[0],

    pendingHosts,

    updateHost: async (sessionId, name, changes) =>
      updateExisting({ pk: sessionPk(sessionId), sk: hostSk(name) }, changes),

    markHostMaintained: async (sessionId, name) =>
      updateIf(table, {
        Key: { pk: sessionPk(sessionId), sk: hostSk(name) },
        UpdateExpression:
          'SET maintained = :true, phase = :phase, finished_at = :now REMOVE blocking_reason, gsi1pk, gsi1sk',
        ConditionExpression: 'attribute_exists(pk) AND maintained = :false',
        ExpressionAttributeValues: {
          ':true': true,
          ':false': false,
          ':phase': 'MAINTAINED',
          ':now': new Date().toISOString(),
        },
      }),

    async putInstances(sessionId, instances) {
      const pk = sessionPk(sessionId);
      await batchPut(
        table,
        instances.map((instance) => ({
          pk,
          sk: instanceSk(instance.project_id, instance.instance_id),
          kind: 'instance',
          ...instance,
        })),
      );
    },

    async deleteInstances(sessionId, instances) {
      const pk = sessionPk(sessionId);
      await batchDelete(
        table,
        instances.map((instance) => ({ pk, sk: instanceSk(instance.project_id, instance.instance_id) })),
      );
    },

    listInstances: async (sessionId) => listPrefix<SessionInstance>(table, sessionId, INSTANCE_PREFIX),

    async updateInstance(sessionId, projectId, instanceId, changes) {
      // false: the instance left the session meanwhile, and there is nothing left to update.
      await updateIf(table, {
        Key: { pk: sessionPk(sessionId), sk: instanceSk(projectId, instanceId) },
        ConditionExpression: 'attribute_exists(pk)',
        ...setChanges(changes),
      });
    },

    async putProjects(sessionId, projects) {
      const pk = sessionPk(sessionId);
      await batchPut(
        table,
        projects.map((project) => ({ pk, sk: projectSk(project.project_id), kind: 'project', ...project })),
      );
    },

    updateProject: async (sessionId, projectId, changes) =>
      updateExisting({ pk: sessionPk(sessionId), sk: projectSk(projectId) }, changes),

    listProjects: async (sessionId) => listPrefix<SessionProject>(table, sessionId, PROJECT_PREFIX),

    getProject: async (sessionId, projectId) =>
      getItem<SessionProject>(table, { pk: sessionPk(sessionId), sk: projectSk(projectId) }),

    listProjectInstances: async (sessionId, projectId) =>
      listPrefix<SessionInstance>(table, sessionId, projectInstancesPrefix(projectId)),

    getProjectInstances: async (sessionId, projectId, instanceIds) =>
      (
        await batchGet<SessionInstance>(
          table,
          instanceIds.map((id) => ({ pk: sessionPk(sessionId), sk: instanceSk(projectId, id) })),
        )
      ).filter((item): item is SessionInstance => item !== undefined),
  };
};
