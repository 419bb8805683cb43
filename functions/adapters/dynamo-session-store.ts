import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ConflictError, ValidationError } from '../core/errors.js';
import type {
  HistoryEntry,
  PluginRun,
  Round,
  RoundMember,
  Session,
  SessionHost,
  SessionInstance,
  SessionProject,
} from '../core/model.js';
import type { SessionStore } from '../core/ports.js';
import { isTerminal } from '../core/states.js';
import { mapLimit } from '../shared/concurrency.js';
import { batchWrite, deleteRequests, isConditionFailure, putRequests, queryAll } from './dynamo-helpers.js';

/**
 * Single-table layout (all items of a session share its partition, so delete and detail are Queries):
 *   SESSION#<id> / #SESSION                 the session (gsi1: all sessions by creation; gsi2: active ones)
 *   SESSION#<id> / HOST#<name>              a host of the session
 *   SESSION#<id> / PROJECT#<project>        a project with instances on the session's hosts
 *   SESSION#<id> / INSTANCE#<project>#<id>  an instance (snapshot taken when the workflow starts)
 *   SESSION#<id> / ROUND#<seq>              a reply round (deadline, task token, status)
 *   SESSION#<id> / ROUND#<seq>#PROJECT#<p>  one project's membership and reply in that round
 *   HOSTLOCK#<host> / #LOCK                 which session holds the host
 * No item grows with the number of instances or projects: lists are items, read with Query.
 */
const sessionPk = (id: string) => `SESSION#${id}`;
const SESSION_SK = '#SESSION';
const roundSk = (seq: number) => `ROUND#${String(seq).padStart(6, '0')}`;
const memberSk = (seq: number, project: string) => `${roundSk(seq)}#PROJECT#${project}`;
const lockPk = (host: string) => `HOSTLOCK#${host}`;
const pendingHostsKey = (sessionId: string) => `PENDINGHOSTS#${sessionId}`;
const LOCK_SK = '#LOCK';

const KEY_ATTRIBUTES = ['pk', 'sk', 'gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk', 'kind'];
const strip = <T>(item: Record<string, unknown>): T => {
  const copy = { ...item };
  for (const key of KEY_ATTRIBUTES) delete copy[key];
  return copy as T;
};

export class DynamoSessionStore implements SessionStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async lockHosts(sessionId: string, hosts: string[]): Promise<void> {
    // Every attempt finishes before any rollback, so no lock lands after we released the others.
    const outcomes = await mapLimit(hosts, 16, (host) =>
      this.lockHost(sessionId, host).then(
        () => ({ host, error: undefined }),
        (error: unknown) => ({ host, error }),
      ),
    );
    const failed = outcomes.find((outcome) => outcome.error !== undefined);
    if (!failed) return;
    await this.releaseHosts(
      sessionId,
      outcomes.filter((outcome) => outcome.error === undefined).map((outcome) => outcome.host),
    );
    throw failed.error;
  }

  /**
   * Takes the lock when it is free, or when its holder has finished (DONE/FAILED) or is gone: a
   * finished session keeps its records for inspection but no longer blocks its hosts.
   */
  private async lockHost(sessionId: string, host: string): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = await this.db.send(
        new GetCommand({ TableName: this.tableName, Key: { pk: lockPk(host), sk: LOCK_SK }, ConsistentRead: true }),
      );
      const holder = current.Item?.session_id as string | undefined;
      if (holder && holder !== sessionId) {
        const other = await this.getSession(holder);
        if (other && !isTerminal(other.state)) {
          throw new ConflictError(`host ${host} is already in active session ${holder}`, 'host_in_session');
        }
      }
      try {
        await this.db.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { pk: lockPk(host), sk: LOCK_SK, kind: 'lock', host, session_id: sessionId },
            ConditionExpression: holder ? 'session_id = :holder' : 'attribute_not_exists(pk)',
            ...(holder ? { ExpressionAttributeValues: { ':holder': holder } } : {}),
          }),
        );
        return;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        // Someone else changed the lock between our read and write: read again.
      }
    }
    throw new ConflictError(`host ${host} is being claimed by another session`, 'host_in_session');
  }

  async releaseHosts(sessionId: string, hosts: string[]): Promise<void> {
    await mapLimit(hosts, 16, async (host) => {
      try {
        await this.db.send(
          new DeleteCommand({
            TableName: this.tableName,
            Key: { pk: lockPk(host), sk: LOCK_SK },
            ConditionExpression: 'session_id = :id',
            ExpressionAttributeValues: { ':id': sessionId },
          }),
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error; // held by another session now: not ours to drop
      }
    });
  }

  async createSession(session: Session, hosts: SessionHost[]): Promise<void> {
    const pk = sessionPk(session.session_id);
    // Hosts not yet maintained are also in a sparse index, by type then name: the workflow finds
    // the next one to maintain without reading every host of a large session.
    await this.batchPut(
      hosts.map((host) => ({
        pk,
        sk: `HOST#${host.name}`,
        kind: 'host',
        ...(host.maintained
          ? {}
          : { gsi1pk: pendingHostsKey(session.session_id), gsi1sk: `${host.type}#${host.name}` }),
        ...host,
      })),
    );
    // The session item goes last: until it exists the session is invisible, so a crash part-way
    // leaves only unreachable host items, never a half-made session.
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: this.sessionItem(session),
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  private sessionItem(session: Session): Record<string, unknown> {
    return {
      pk: sessionPk(session.session_id),
      sk: SESSION_SK,
      kind: 'session',
      gsi1pk: 'SESSIONS',
      gsi1sk: `${session.created_at}#${session.session_id}`,
      ...(isTerminal(session.state) ? {} : { gsi2pk: 'ACTIVE_SESSIONS', gsi2sk: session.session_id }),
      ...session,
    };
  }

  async claimIdempotencyKey(key: string, requestHash: string) {
    const Key = { pk: `IDEMPOTENCY#${key}`, sk: '#KEY' };
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          // Kept a day (TTL in AWS), long enough for any client retry.
          Item: {
            ...Key,
            kind: 'idempotency',
            request_hash: requestHash,
            expires_at: Math.floor(Date.now() / 1000) + 86400,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return { claimed: true as const };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const existing = await this.db.send(new GetCommand({ TableName: this.tableName, Key, ConsistentRead: true }));
      return {
        claimed: false as const,
        requestHash: String(existing.Item?.request_hash ?? ''),
        ...(existing.Item?.session_id ? { sessionId: String(existing.Item.session_id) } : {}),
      };
    }
  }

  async completeIdempotencyKey(key: string, sessionId: string): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `IDEMPOTENCY#${key}`, sk: '#KEY' },
        UpdateExpression: 'SET session_id = :id',
        ExpressionAttributeValues: { ':id': sessionId },
      }),
    );
  }

  async releaseIdempotencyKey(key: string): Promise<void> {
    await this.db.send(new DeleteCommand({ TableName: this.tableName, Key: { pk: `IDEMPOTENCY#${key}`, sk: '#KEY' } }));
  }

  async getSession(sessionId: string): Promise<Session | undefined> {
    const result = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: sessionPk(sessionId), sk: SESSION_SK },
        ConsistentRead: true,
      }),
    );
    return result.Item ? strip<Session>(result.Item) : undefined;
  }

  async listSessionIds(): Promise<string[]> {
    const items = await this.queryAll({
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': 'SESSIONS' },
      ProjectionExpression: 'session_id',
    });
    return items.map((item) => item.session_id as string);
  }

  async listActiveSessionIds(): Promise<string[]> {
    const items = await this.queryAll({
      IndexName: 'gsi2',
      KeyConditionExpression: 'gsi2pk = :pk',
      ExpressionAttributeValues: { ':pk': 'ACTIVE_SESSIONS' },
      ProjectionExpression: 'session_id',
    });
    return items.map((item) => item.session_id as string);
  }

  async updateSession(
    sessionId: string,
    changes: Partial<Session>,
    expectedState?: Session['state'],
  ): Promise<Session> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    const removes: string[] = [];
    for (const [key, value] of Object.entries(changes)) {
      names[`#${key}`] = key;
      if (value === undefined) removes.push(`#${key}`);
      else {
        values[`:${key}`] = value;
        sets.push(`#${key} = :${key}`);
      }
    }
    if (changes.state !== undefined && isTerminal(changes.state)) {
      names['#gsi2pk'] = 'gsi2pk';
      names['#gsi2sk'] = 'gsi2sk';
      removes.push('#gsi2pk', '#gsi2sk');
    } else if (changes.state !== undefined) {
      names['#gsi2pk'] = 'gsi2pk';
      names['#gsi2sk'] = 'gsi2sk';
      values[':gsi2pk'] = 'ACTIVE_SESSIONS';
      values[':gsi2sk'] = sessionId;
      sets.push('#gsi2pk = :gsi2pk', '#gsi2sk = :gsi2sk');
    }
    let condition = 'attribute_exists(pk)';
    if (expectedState) {
      names['#state'] = 'state';
      values[':expected'] = expectedState;
      condition += ' AND #state = :expected';
    }
    const update = [sets.length ? `SET ${sets.join(', ')}` : '', removes.length ? `REMOVE ${removes.join(', ')}` : '']
      .filter(Boolean)
      .join(' ');
    try {
      const result = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: sessionPk(sessionId), sk: SESSION_SK },
          UpdateExpression: update,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ...(Object.keys(values).length ? { ExpressionAttributeValues: values } : {}),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return strip<Session>(result.Attributes ?? {});
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new ConflictError(
          `session ${sessionId} is gone or no longer in state ${expectedState ?? 'any'}`,
          'state_changed',
        );
      }
      throw error;
    }
  }

  async allocateEventSeq(sessionId: string, count: number): Promise<number> {
    const result = await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: sessionPk(sessionId), sk: SESSION_SK },
        UpdateExpression: 'ADD event_seq :n',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':n': count },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return (result.Attributes?.event_seq as number) - count + 1;
  }

  async transition(
    sessionId: string,
    to: Session['state'],
    changes: Partial<Session> = {},
    options: { reenter?: boolean } = {},
  ) {
    const now = new Date().toISOString();
    const setKeys = Object.keys(changes).filter((key) => changes[key as keyof Session] !== undefined);
    const removeKeys = Object.keys(changes).filter((key) => changes[key as keyof Session] === undefined);
    try {
      const updated = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: sessionPk(sessionId), sk: SESSION_SK },
          // event_seq and transition_seq both read the old counter: one new number for this step.
          // A change to undefined removes the attribute (e.g. the failure, when a session continues).
          UpdateExpression:
            [
              'SET previous_state = #state, #state = :to, event_seq = event_seq + :one, transition_seq = event_seq + :one',
              'state_entered_at = :now, updated_at = :now',
              ...setKeys.map((key) => `#c_${key} = :c_${key}`),
              ...(isTerminal(to) ? [] : ['gsi2pk = :active, gsi2sk = :id']),
            ].join(', ') +
            (isTerminal(to) || removeKeys.length
              ? ` REMOVE ${[...(isTerminal(to) ? ['gsi2pk', 'gsi2sk'] : []), ...removeKeys.map((key) => `#c_${key}`)].join(', ')}`
              : ''),
          ConditionExpression: options.reenter
            ? 'attribute_exists(pk)'
            : 'attribute_exists(pk) AND (#state <> :to OR attribute_not_exists(transition_seq))',
          ExpressionAttributeNames: {
            '#state': 'state',
            ...Object.fromEntries(Object.keys(changes).map((key) => [`#c_${key}`, key])),
          },
          ExpressionAttributeValues: {
            ':to': to,
            ':one': 1,
            ':now': now,
            ...(isTerminal(to) ? {} : { ':active': 'ACTIVE_SESSIONS', ':id': sessionId }),
            ...Object.fromEntries(setKeys.map((key) => [`:c_${key}`, changes[key as keyof Session]])),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return this.transitionResult(strip<Session>(updated.Attributes ?? {}));
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const session = await this.getSession(sessionId);
      if (!session) throw new ConflictError(`session ${sessionId} no longer exists`, 'gone');
      // Already in `to`: a retried step. Hand back what the first try recorded.
      return this.transitionResult(session);
    }
  }

  /** The first transition (into the initial state) has no previous state. */
  private transitionResult(session: Session) {
    // Only the very first transition (creation → MAINTENANCE) has no previous state.
    const previous =
      session.previous_state && (session.previous_state !== session.state || session.transition_seq !== 1)
        ? session.previous_state
        : null;
    return { session, previous, seq: session.transition_seq ?? 0 };
  }

  async increment(sessionId: string, field: string, by = 1): Promise<number> {
    const result = await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: sessionPk(sessionId), sk: SESSION_SK },
        UpdateExpression: 'ADD #field :by',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#field': field },
        ExpressionAttributeValues: { ':by': by },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return result.Attributes?.[field] as number;
  }

  async stampEventSeq(
    sessionId: string,
    item: { host: string } | { round: number },
    field: string,
    count = 1,
  ): Promise<number> {
    const key = { pk: sessionPk(sessionId), sk: 'host' in item ? `HOST#${item.host}` : roundSk(item.round) };
    const current = await this.db.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }));
    const recorded = current.Item?.[field];
    if (typeof recorded === 'number') return recorded;
    const seq = await this.allocateEventSeq(sessionId, count);
    const result = await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: key,
        UpdateExpression: 'SET #field = if_not_exists(#field, :seq)',
        ExpressionAttributeNames: { '#field': field },
        ExpressionAttributeValues: { ':seq': seq },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return result.Attributes?.[field] as number;
  }

  async markHostMaintained(sessionId: string, name: string): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: sessionPk(sessionId), sk: `HOST#${name}` },
          UpdateExpression:
            'SET maintained = :true, disabled = :false, phase = :phase, finished_at = :now REMOVE blocking_reason, gsi1pk, gsi1sk',
          ConditionExpression: 'attribute_exists(pk) AND maintained = :false',
          ExpressionAttributeValues: {
            ':true': true,
            ':false': false,
            ':phase': 'MAINTAINED',
            ':now': new Date().toISOString(),
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async deleteInstances(sessionId: string, instances: SessionInstance[]): Promise<void> {
    const pk = sessionPk(sessionId);
    await batchWrite(
      this.db,
      this.tableName,
      deleteRequests(
        instances.map((instance) => ({ pk, sk: `INSTANCE#${instance.project_id}#${instance.instance_id}` })),
      ),
    );
  }

  async listInstances(sessionId: string): Promise<SessionInstance[]> {
    return (await this.queryPrefix(sessionId, 'INSTANCE#')).map((item) => strip<SessionInstance>(item));
  }

  async updateInstance(
    sessionId: string,
    projectId: string,
    instanceId: string,
    changes: Partial<SessionInstance>,
  ): Promise<void> {
    const entries = Object.entries(changes);
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: sessionPk(sessionId), sk: `INSTANCE#${projectId}#${instanceId}` },
          UpdateExpression: `SET ${entries.map(([key]) => `#${key} = :${key}`).join(', ')}`,
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: Object.fromEntries(entries.map(([key]) => [`#${key}`, key])),
          ExpressionAttributeValues: Object.fromEntries(entries.map(([key, value]) => [`:${key}`, value])),
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error; // the instance left the session meanwhile
    }
  }

  async putHistory(entries: { session_id: string; key: string; entry: HistoryEntry }[]): Promise<void> {
    await this.batchPut(
      entries.map(({ session_id, key, entry }) => ({
        pk: sessionPk(session_id),
        sk: `HISTORY#${key}`,
        kind: 'history',
        ...entry,
      })),
    );
  }

  async page<T>(
    sessionId: string,
    list: 'history' | 'instances',
    limit: number,
    next?: string,
  ): Promise<{ items: T[]; next?: string }> {
    const prefix = list === 'history' ? 'HISTORY#' : 'INSTANCE#';
    let start: Record<string, unknown> | undefined;
    if (next) {
      const sk = Buffer.from(next, 'base64url').toString('utf8');
      // A token is only ever a key of this list: anything else is a client error, not a scan.
      if (!sk.startsWith(prefix)) throw new ValidationError(`${list}_next: not a token of this list`);
      start = { pk: sessionPk(sessionId), sk };
    }
    // The page is cut here rather than with Limit: dynalite's Limit path can crash the local
    // runtime (its read-ahead stream reads a closed LevelDB iterator). One Query reads at most 1 MB.
    const page = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
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
  }

  async putPluginRun(run: PluginRun): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: sessionPk(run.session_id),
          sk: `PLUGINRUN#${run.phase}#${run.host}#${run.plugin}`,
          kind: 'plugin_run',
          ...run,
        },
      }),
    );
  }

  async listPluginRuns(sessionId: string): Promise<PluginRun[]> {
    return (await this.queryPrefix(sessionId, 'PLUGINRUN#')).map((item) => strip<PluginRun>(item));
  }

  async deleteSession(sessionId: string): Promise<void> {
    // The session item first: from then on the session answers 404 and replies are refused.
    await this.db.send(
      new DeleteCommand({ TableName: this.tableName, Key: { pk: sessionPk(sessionId), sk: SESSION_SK } }),
    );
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': sessionPk(sessionId) },
      ProjectionExpression: 'pk, sk',
    });
    await batchWrite(this.db, this.tableName, deleteRequests(items));
  }

  async listHosts(sessionId: string): Promise<SessionHost[]> {
    return (await this.queryPrefix(sessionId, 'HOST#')).map((item) => strip<SessionHost>(item));
  }

  async firstPendingHost(sessionId: string, type: SessionHost['type']): Promise<string | undefined> {
    const page = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk AND begins_with(gsi1sk, :type)',
        ExpressionAttributeValues: { ':pk': pendingHostsKey(sessionId), ':type': `${type}#` },
        Limit: 1,
      }),
    );
    return page.Items?.[0]?.name as string | undefined;
  }

  async getHost(sessionId: string, name: string): Promise<SessionHost | undefined> {
    const result = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: sessionPk(sessionId), sk: `HOST#${name}` },
        ConsistentRead: true,
      }),
    );
    return result.Item ? strip<SessionHost>(result.Item) : undefined;
  }

  async updateHost(sessionId: string, name: string, changes: Partial<SessionHost>): Promise<void> {
    const entries = Object.entries(changes);
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: sessionPk(sessionId), sk: `HOST#${name}` },
        UpdateExpression: `SET ${entries.map(([key]) => `#${key} = :${key}`).join(', ')}`,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: Object.fromEntries(entries.map(([key]) => [`#${key}`, key])),
        ExpressionAttributeValues: Object.fromEntries(entries.map(([key, value]) => [`:${key}`, value])),
      }),
    );
  }

  async putInstances(sessionId: string, instances: SessionInstance[]): Promise<void> {
    const pk = sessionPk(sessionId);
    await this.batchPut(
      instances.map((instance) => ({
        pk,
        sk: `INSTANCE#${instance.project_id}#${instance.instance_id}`,
        kind: 'instance',
        ...instance,
      })),
    );
  }

  async putProjects(sessionId: string, projects: SessionProject[]): Promise<void> {
    const pk = sessionPk(sessionId);
    await this.batchPut(
      projects.map((project) => ({ pk, sk: `PROJECT#${project.project_id}`, kind: 'project', ...project })),
    );
  }

  async listProjects(sessionId: string): Promise<SessionProject[]> {
    return (await this.queryPrefix(sessionId, 'PROJECT#')).map((item) => strip<SessionProject>(item));
  }

  async getProject(sessionId: string, projectId: string): Promise<SessionProject | undefined> {
    const result = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: sessionPk(sessionId), sk: `PROJECT#${projectId}` },
        ConsistentRead: true,
      }),
    );
    return result.Item ? strip<SessionProject>(result.Item) : undefined;
  }

  async listProjectInstances(sessionId: string, projectId: string): Promise<SessionInstance[]> {
    return (await this.queryPrefix(sessionId, `INSTANCE#${projectId}#`)).map((item) => strip<SessionInstance>(item));
  }

  async createRound(round: Round, projectIds: string[]): Promise<void> {
    const pk = sessionPk(round.session_id);
    // Members first, the round item last: a round is only visible once all its members exist.
    await this.batchPut(
      projectIds.map((projectId, index) => ({
        pk,
        sk: memberSk(round.seq, projectId),
        kind: 'member',
        session_id: round.session_id,
        seq: round.seq,
        project_id: projectId,
        status: 'EXPECTED',
        index,
      })),
    );
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk, sk: roundSk(round.seq), kind: 'round', ...round },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) throw new ConflictError(`round ${round.seq} already exists`, 'round_exists');
      throw error;
    }
  }

  async getRound(sessionId: string, seq: number): Promise<Round | undefined> {
    const result = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: sessionPk(sessionId), sk: roundSk(seq) },
        ConsistentRead: true,
      }),
    );
    return result.Item ? strip<Round>(result.Item) : undefined;
  }

  async setRoundToken(sessionId: string, seq: number, token: string, firstEventSeq: number): Promise<Round> {
    const result = await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
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
  }

  async closeRound(sessionId: string, seq: number, outcome: NonNullable<Round['outcome']>): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: sessionPk(sessionId), sk: roundSk(seq) },
          UpdateExpression: 'SET #status = :closed, outcome = :outcome',
          ConditionExpression: '#status = :open',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':closed': 'CLOSED', ':open': 'OPEN', ':outcome': outcome },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async listMembers(sessionId: string, seq: number): Promise<RoundMember[]> {
    return (await this.queryPrefix(sessionId, `${roundSk(seq)}#PROJECT#`)).map((item) => strip<RoundMember>(item));
  }

  async getMember(sessionId: string, seq: number, projectId: string): Promise<RoundMember | undefined> {
    const result = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: sessionPk(sessionId), sk: memberSk(seq, projectId) },
        ConsistentRead: true,
      }),
    );
    return result.Item ? strip<RoundMember>(result.Item) : undefined;
  }

  async recordReply(member: RoundMember, deadline: string, now: string): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
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
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async markSilent(sessionId: string, seq: number, projectId: string): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: sessionPk(sessionId), sk: memberSk(seq, projectId) },
          UpdateExpression: 'SET #status = :silent',
          ConditionExpression: '#status = :expected',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':silent': 'SILENT', ':expected': 'EXPECTED' },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  private queryPrefix(sessionId: string, prefix: string) {
    return this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': sessionPk(sessionId), ':prefix': prefix },
    });
  }

  private queryAll(input: Omit<QueryCommandInput, 'TableName'>) {
    // Base-table reads are strongly consistent: a reply must see the round as it is now.
    return queryAll(this.db, this.tableName, { ...input, ...(input.IndexName ? {} : { ConsistentRead: true }) });
  }

  private batchPut(items: Record<string, unknown>[]) {
    return batchWrite(this.db, this.tableName, putRequests(items));
  }
}
