import type { PluginRun, Session, SessionHost } from '../../core/model.js';

/**
 * Single-table layout (all items of a session share its partition, so delete and detail are Queries):
 *   SESSION#<id> / #SESSION                 the session (gsi1: all sessions by creation; gsi2: active ones)
 *   SESSION#<id> / HOST#<name>              a host of the session
 *   SESSION#<id> / PROJECT#<project>        a project with instances on the session's hosts
 *   SESSION#<id> / INSTANCE#<project>#<id>  an instance (snapshot taken when the workflow starts)
 *   SESSION#<id> / ROUND#<seq>              a reply round (deadline, task token, status)
 *   SESSION#<id> / ROUND#<seq>#PROJECT#<p>  one project's membership and reply in that round
 *   SESSION#<id> / HISTORY#<key>            a history entry
 *   SESSION#<id> / PLUGINRUN#<phase>#<host>#<plugin>  one run of a plug-in
 *   HOSTLOCK#<host> / #LOCK                 which session holds the host
 *   IDEMPOTENCY#<key> / #KEY                a claimed Idempotency-Key (expires after a day)
 *   CONSTRAINT#INSTANCE#<id> / #CONSTRAINT  an instance constraint (gsi1, when it names a group:
 *                                           CONSTRAINT#MEMBERS#<group> / <project>#<id>)
 *   CONSTRAINT#GROUP#<id> / #CONSTRAINT     an instance-group constraint
 * No item grows with the number of instances or projects: lists are items, read with Query.
 * Every module of the store builds its keys here, so the layout above stays the whole truth.
 */
export const sessionPk = (id: string) => `SESSION#${id}`;
export const SESSION_SK = '#SESSION';

export const HOST_PREFIX = 'HOST#';
export const hostSk = (name: string) => `${HOST_PREFIX}${name}`;
export const PROJECT_PREFIX = 'PROJECT#';
export const projectSk = (projectId: string) => `${PROJECT_PREFIX}${projectId}`;
export const INSTANCE_PREFIX = 'INSTANCE#';
export const projectInstancesPrefix = (projectId: string) => `${INSTANCE_PREFIX}${projectId}#`;
export const instanceSk = (projectId: string, instanceId: string) =>
  `${projectInstancesPrefix(projectId)}${instanceId}`;

export const roundSk = (seq: number) => `ROUND#${String(seq).padStart(6, '0')}`;
export const membersPrefix = (seq: number) => `${roundSk(seq)}#PROJECT#`;
export const memberSk = (seq: number, project: string) => `${membersPrefix(seq)}${project}`;

export const HISTORY_PREFIX = 'HISTORY#';
export const historySk = (key: string) => `${HISTORY_PREFIX}${key}`;
export const PLUGIN_RUN_PREFIX = 'PLUGINRUN#';
export const pluginRunSk = (run: Pick<PluginRun, 'phase' | 'host' | 'plugin'>) =>
  `${PLUGIN_RUN_PREFIX}${run.phase}#${run.host}#${run.plugin}`;

export const lockPk = (host: string) => `HOSTLOCK#${host}`;
export const LOCK_SK = '#LOCK';
export const idempotencyKey = (key: string) => ({ pk: `IDEMPOTENCY#${key}`, sk: '#KEY' });

/**
 * Constraints (DESIGN §12) live apart from sessions, one partition each, all under `CONSTRAINT#`
 * (the constraint routes' IAM policy names that prefix). A group's members are found on gsi1, sorted
 * by project so that only the group's own project's instances are read as members.
 */
export const CONSTRAINT_PREFIX = 'CONSTRAINT#';
export const CONSTRAINT_SK = '#CONSTRAINT';
export const instanceConstraintKey = (instanceId: string) => ({
  pk: `${CONSTRAINT_PREFIX}INSTANCE#${instanceId}`,
  sk: CONSTRAINT_SK,
});
export const groupConstraintKey = (groupId: string) => ({
  pk: `${CONSTRAINT_PREFIX}GROUP#${groupId}`,
  sk: CONSTRAINT_SK,
});
export const groupMembersKey = (groupId: string) => `${CONSTRAINT_PREFIX}MEMBERS#${groupId}`;
export const groupMembersProjectPrefix = (projectId: string) => `${projectId}#`;
export const groupMemberSk = (projectId: string, instanceId: string) =>
  `${groupMembersProjectPrefix(projectId)}${instanceId}`;

/** gsi1 of a session item: every session, by creation. */
export const ALL_SESSIONS_PK = 'SESSIONS';
export const allSessionsSk = (session: Pick<Session, 'created_at' | 'session_id'>) =>
  `${session.created_at}#${session.session_id}`;
/** gsi2 (sparse) of a session item: only sessions not DONE/FAILED carry it. */
export const ACTIVE_SESSIONS_PK = 'ACTIVE_SESSIONS';

/** gsi1 (sparse) of a host item: only hosts not yet maintained carry it, by type then name. */
export const pendingHostsKey = (sessionId: string) => `PENDINGHOSTS#${sessionId}`;
export const pendingHostsTypePrefix = (type: SessionHost['type']) => `${type}#`;
export const pendingHostSk = (host: Pick<SessionHost, 'type' | 'name'>) =>
  `${pendingHostsTypePrefix(host.type)}${host.name}`;

/** What places or tags an item (table and index keys, kind): never part of what the store returns. */
export const KEY_ATTRIBUTES = ['pk', 'sk', 'gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk', 'kind'];
export const strip = <T>(item: Record<string, unknown>): T => {
  const copy = { ...item };
  for (const key of KEY_ATTRIBUTES) delete copy[key];
  return copy as T;
};
