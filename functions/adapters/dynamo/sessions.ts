import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mapLimit } from '../../core/concurrency.js';
import { ConflictError } from '../../core/errors.js';
import type { Session } from '../../core/model.js';
import type { SessionRecords } from '../../core/ports.js';
import { isTerminal } from '../../core/states.js';
import { batchDelete, batchPut, getItem, isConditionFailure, numberAttribute, readAll, type Table } from './helpers.js';
import {
  ACTIVE_SESSIONS_PK,
  ALL_SESSIONS_PK,
  allSessionsSk,
  hostSk,
  idempotencyKey,
  LOCK_SK,
  lockPk,
  pendingHostSk,
  pendingHostsKey,
  roundSk,
  SESSION_SK,
  sessionPk,
  strip,
} from './keys.js';

/** The session item, its counters and event numbers, host locks, Idempotency-Keys, and the session as a whole. */
export const sessionRecords = (table: Table): SessionRecords => {
  const { db, tableName } = table;

  const getSession = async (sessionId: string): Promise<Session | undefined> =>
    getItem<Session>(table, { pk: sessionPk(sessionId), sk: SESSION_SK });

  const releaseHosts = async (sessionId: string, hosts: string[]): Promise<void> => {
    await mapLimit(hosts, 16, async (host) => {
      try {
        await db.send(
          new DeleteCommand({
            TableName: tableName,
            Key: { pk: lockPk(host), sk: LOCK_SK },
            ConditionExpression: 'session_id = :id',
            ExpressionAttributeValues: { ':id': sessionId },
          }),
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error; // held by another session now: not ours to drop
      }
    });
  };

  /**
   * Takes the lock when it is free, or when its holder has finished (DONE/FAILED) or is gone: a
   * finished session keeps its records for inspection but no longer blocks its hosts.
   */
  const lockHost = async (sessionId: string, host: string): Promise<void> => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const holder = (await getItem<{ session_id?: string }>(table, { pk: lockPk(host), sk: LOCK_SK }))?.session_id;
      if (holder && holder !== sessionId) {
        const other = await getSession(holder);
        if (other && !isTerminal(other.state)) {
          throw new ConflictError(`host ${host} is already in active session ${holder}`, 'host_in_session');
        }
      }
      try {
        await db.send(
          new PutCommand({
            TableName: tableName,
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
  };

  const sessionItem = (session: Session): Record<string, unknown> => ({
    pk: sessionPk(session.session_id),
    sk: SESSION_SK,
    kind: 'session',
    gsi1pk: ALL_SESSIONS_PK,
    gsi1sk: allSessionsSk(session),
    ...(isTerminal(session.state) ? {} : { gsi2pk: ACTIVE_SESSIONS_PK, gsi2sk: session.session_id }),
    ...session,
  });

  /** Atomically adds `by` to a number of the session item (ADD starts a missing one at 0); returns the new value. */
  const add = async (sessionId: string, field: string, by: number): Promise<number> => {
    const result = await db.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: sessionPk(sessionId), sk: SESSION_SK },
        UpdateExpression: 'ADD #field :by',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#field': field },
        ExpressionAttributeValues: { ':by': by },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return numberAttribute(result.Attributes, field, `session ${sessionId}`);
  };

  const allocateEventSeq = async (sessionId: string, count: number): Promise<number> =>
    (await add(sessionId, 'event_seq', count)) - count + 1;

  /** Only the very first transition (creation → MAINTENANCE) has no previous state. */
  const transitionResult = (session: Session) => {
    const previous =
      session.previous_state && (session.previous_state !== session.state || session.transition_seq !== 1)
        ? session.previous_state
        : null;
    return { session, previous, seq: session.transition_seq ?? 0 };
  };

  const listIds = async (index: 'gsi1' | 'gsi2', pk: string): Promise<string[]> => {
    const items = await readAll(table, {
      IndexName: index,
      KeyConditionExpression: `${index}pk = :pk`,
      ExpressionAttributeValues: { ':pk': pk },
      ProjectionExpression: 'session_id',
    });
    return items.map((item) => item.session_id as string);
  };

  return {
    async lockHosts(sessionId, hosts) {
      // Every attempt finishes before any rollback, so no lock lands after we released the others.
      const outcomes = await mapLimit(hosts, 16, (host) =>
        lockHost(sessionId, host).then(
          () => ({ host, error: undefined }),
          (error: unknown) => ({ host, error }),
        ),
      );
      const failed = outcomes.find((outcome) => outcome.error !== undefined);
      if (!failed) return;
      await releaseHosts(
        sessionId,
        outcomes.filter((outcome) => outcome.error === undefined).map((outcome) => outcome.host),
      );
      throw failed.error;
    },

    releaseHosts,

    // Writes the host items too, but the write that can fail (and makes the session exist) is the session item's.
    async createSession(session, hosts) {
      const pk = sessionPk(session.session_id);
      // Hosts not yet maintained are also in a sparse index, by type then name: the workflow finds
      // the next one to maintain without reading every host of a large session.
      await batchPut(
        table,
        hosts.map((host) => ({
          pk,
          sk: hostSk(host.name),
          kind: 'host',
          ...(host.maintained ? {} : { gsi1pk: pendingHostsKey(session.session_id), gsi1sk: pendingHostSk(host) }),
          ...host,
        })),
      );
      // The session item goes last: until it exists the session is invisible, so a crash part-way
      // leaves only unreachable host items, never a half-made session.
      await db.send(
        new PutCommand({
          TableName: tableName,
          Item: sessionItem(session),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    },

    async claimIdempotencyKey(key, requestHash) {
      const Key = idempotencyKey(key);
      try {
        await db.send(
          new PutCommand({
            TableName: tableName,
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
        const existing = await getItem<{ request_hash?: string; session_id?: string }>(table, Key);
        return {
          claimed: false as const,
          requestHash: String(existing?.request_hash ?? ''),
          ...(existing?.session_id ? { sessionId: String(existing.session_id) } : {}),
        };
      }
    },

    async completeIdempotencyKey(key, sessionId) {
      await db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: idempotencyKey(key),
          UpdateExpression: 'SET session_id = :id',
          ExpressionAttributeValues: { ':id': sessionId },
        }),
      );
    },

    async releaseIdempotencyKey(key) {
      await db.send(new DeleteCommand({ TableName: tableName, Key: idempotencyKey(key) }));
    },

    getSession,

    listSessionIds: async () => listIds('gsi1', ALL_SESSIONS_PK),

    listActiveSessionIds: async () => listIds('gsi2', ACTIVE_SESSIONS_PK),

    async updateSession(sessionId, changes, expectedState) {
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
        values[':gsi2pk'] = ACTIVE_SESSIONS_PK;
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
        const result = await db.send(
          new UpdateCommand({
            TableName: tableName,
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
    },

    allocateEventSeq,

    async transition(sessionId, to, changes = {}, options = {}) {
      const now = new Date().toISOString();
      const setKeys = Object.keys(changes).filter((key) => changes[key as keyof Session] !== undefined);
      const removeKeys = Object.keys(changes).filter((key) => changes[key as keyof Session] === undefined);
      try {
        const updated = await db.send(
          new UpdateCommand({
            TableName: tableName,
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
              ...(isTerminal(to) ? {} : { ':active': ACTIVE_SESSIONS_PK, ':id': sessionId }),
              ...Object.fromEntries(setKeys.map((key) => [`:c_${key}`, changes[key as keyof Session]])),
            },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return transitionResult(strip<Session>(updated.Attributes ?? {}));
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        const session = await getSession(sessionId);
        if (!session) throw new ConflictError(`session ${sessionId} no longer exists`, 'gone');
        // Already in `to`: a retried step. Hand back what the first try recorded.
        return transitionResult(session);
      }
    },

    increment: async (sessionId, field, by = 1) => add(sessionId, field, by),

    async bumpWake(sessionId, freed) {
      // One write: the wake counter, and (a host ending) its slot and the maintained count.
      const result = await db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { pk: sessionPk(sessionId), sk: SESSION_SK },
          UpdateExpression: [
            `ADD wake_seq :one${freed?.maintained ? ', maintained_count :one' : ''}`,
            freed ? 'DELETE in_flight :host' : '',
          ].join(' '),
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':one': 1, ...(freed ? { ':host': new Set([freed.host]) } : {}) },
          ReturnValues: 'ALL_NEW',
        }),
      );
      const token = result.Attributes?.wake_token;
      return typeof token === 'string' ? token : undefined;
    },

    async changeHostSet(sessionId, field, change, hosts) {
      if (hosts.length === 0) return;
      // ADD and DELETE on a string set are atomic: parallel host executions never lose each other's change.
      await db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { pk: sessionPk(sessionId), sk: SESSION_SK },
          UpdateExpression: `${change === 'add' ? 'ADD' : 'DELETE'} #field :hosts`,
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#field': field },
          ExpressionAttributeValues: { ':hosts': new Set(hosts) },
        }),
      );
    },

    // Stamps a host or round item, but the conditional write is the session item's counter (allocateEventSeq).
    async stampEventSeq(sessionId, item, field, count = 1) {
      const key = { pk: sessionPk(sessionId), sk: 'host' in item ? hostSk(item.host) : roundSk(item.round) };
      const recorded = (await getItem<Record<string, unknown>>(table, key))?.[field];
      if (typeof recorded === 'number') return recorded;
      const seq = await allocateEventSeq(sessionId, count);
      const result = await db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key,
          UpdateExpression: 'SET #field = if_not_exists(#field, :seq)',
          ExpressionAttributeNames: { '#field': field },
          ExpressionAttributeValues: { ':seq': seq },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return numberAttribute(result.Attributes, field, `${key.sk} of session ${sessionId}`);
    },

    // Deletes every aggregate's items, but the delete that matters (the session's 404) is the session item's.
    async deleteSession(sessionId) {
      // The session item first: from then on the session answers 404 and replies are refused.
      await db.send(new DeleteCommand({ TableName: tableName, Key: { pk: sessionPk(sessionId), sk: SESSION_SK } }));
      const items = await readAll(table, {
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': sessionPk(sessionId) },
        ProjectionExpression: 'pk, sk',
      });
      await batchDelete(
        table,
        items.map(({ pk, sk }) => ({ pk, sk })),
      );
    },
  };
};
