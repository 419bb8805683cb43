import {
  BatchGetCommand,
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mapLimit } from '../../core/concurrency.js';
import { ValidationError } from '../../core/errors.js';
import { sessionPk, strip } from './keys.js';

type WriteRequest = NonNullable<ConstructorParameters<typeof BatchWriteCommand>[0]['RequestItems']>[string][number];

export const isConditionFailure = (error: unknown): boolean =>
  error instanceof Error && error.name === 'ConditionalCheckFailedException';

/** Query, following LastEvaluatedKey: callers get the whole list (their lists are bounded by design). */
export const queryAll = async (
  db: DynamoDBDocumentClient,
  tableName: string,
  input: Omit<QueryCommandInput, 'TableName'>,
): Promise<Record<string, unknown>[]> => {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db.send(new QueryCommand({ TableName: tableName, ...input, ExclusiveStartKey: start }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
};

/** BatchWriteItem in chunks of 25, retrying unprocessed items with a short backoff until none is left. */
export const batchWrite = async (
  db: DynamoDBDocumentClient,
  tableName: string,
  requests: WriteRequest[],
): Promise<void> => {
  const chunks: WriteRequest[][] = [];
  for (let i = 0; i < requests.length; i += 25) chunks.push(requests.slice(i, i + 25));
  await mapLimit(chunks, 4, async (chunk) => {
    let pending = chunk;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 8) throw new Error(`BatchWriteItem left ${pending.length} items unprocessed`);
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** attempt));
      const result = await db.send(new BatchWriteCommand({ RequestItems: { [tableName]: pending } }));
      pending = result.UnprocessedItems?.[tableName] ?? [];
    }
  });
};

export const putRequests = (items: Record<string, unknown>[]): WriteRequest[] =>
  items.map((Item) => ({ PutRequest: { Item } }));
export const deleteRequests = (keys: Record<string, unknown>[]): WriteRequest[] =>
  keys.map((key) => ({ DeleteRequest: { Key: { pk: key.pk, sk: key.sk } } }));

/** The one table every aggregate module of the store reads and writes. */
export interface Table {
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
}

/** The whole result of a Query; base-table reads are strongly consistent: a reply must see the round as it is now. */
export const readAll = (table: Table, input: Omit<QueryCommandInput, 'TableName'>) =>
  queryAll(table.db, table.tableName, { ...input, ...(input.IndexName ? {} : { ConsistentRead: true }) });

/** A session's items whose sort key starts with `prefix`, in key order, without their key attributes. */
export const listPrefix = async <T>(table: Table, sessionId: string, prefix: string): Promise<T[]> =>
  (
    await readAll(table, {
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': sessionPk(sessionId), ':prefix': prefix },
    })
  ).map((item) => strip<T>(item));

/** One item (strongly consistent), without its key attributes. */
export const getItem = async <T>(table: Table, key: { pk: string; sk: string }): Promise<T | undefined> => {
  const result = await table.db.send(new GetCommand({ TableName: table.tableName, Key: key, ConsistentRead: true }));
  return result.Item ? strip<T>(result.Item) : undefined;
};

export const batchPut = (table: Table, items: Record<string, unknown>[]) =>
  batchWrite(table.db, table.tableName, putRequests(items));

export const batchDelete = (table: Table, keys: Record<string, unknown>[]) =>
  batchWrite(table.db, table.tableName, deleteRequests(keys));

/**
 * BatchGetItem (strongly consistent) in chunks of 100, retrying unprocessed keys with a short
 * backoff. Answers the items (key attributes stripped) aligned with `keys`, undefined where none.
 */
export const batchGet = async <T>(
  table: Table,
  keys: readonly { pk: string; sk: string }[],
): Promise<(T | undefined)[]> => {
  const unique = [...new Map(keys.map((key) => [`${key.pk}\u0000${key.sk}`, key])).values()];
  const found = new Map<string, T>();
  const chunks: { pk: string; sk: string }[][] = [];
  for (let i = 0; i < unique.length; i += 100) chunks.push(unique.slice(i, i + 100));
  await mapLimit(chunks, 4, async (chunk) => {
    let pending: Record<string, unknown>[] = chunk;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 8) throw new Error(`BatchGetItem left ${pending.length} keys unprocessed`);
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** attempt));
      const result = await table.db.send(
        new BatchGetCommand({ RequestItems: { [table.tableName]: { Keys: pending, ConsistentRead: true } } }),
      );
      for (const item of result.Responses?.[table.tableName] ?? []) {
        found.set(`${item.pk}\u0000${item.sk}`, strip<T>(item));
      }
      pending = result.UnprocessedKeys?.[table.tableName]?.Keys ?? [];
    }
  });
  return keys.map((key) => found.get(`${key.pk}\u0000${key.sk}`));
};

/**
 * One page of a session's items whose sort key starts with `prefix`; `next` is the last sort key of
 * the previous page (base64url). A token that is not a key of this list is a client error, not a scan.
 */
export const pagePrefix = async <T>(
  table: Table,
  sessionId: string,
  prefix: string,
  limit: number,
  next: string | undefined,
  label: string,
): Promise<{ items: T[]; next?: string }> => {
  let start: Record<string, unknown> | undefined;
  if (next) {
    const sk = Buffer.from(next, 'base64url').toString('utf8');
    if (!sk.startsWith(prefix)) throw new ValidationError(`${label}: not a token of this list`);
    start = { pk: sessionPk(sessionId), sk };
  }
  // The page is cut here rather than with Limit: dynalite's Limit path can crash the local
  // runtime (its read-ahead stream reads a closed LevelDB iterator). One Query reads at most 1 MB.
  const page = await table.db.send(
    new QueryCommand({
      TableName: table.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': sessionPk(sessionId), ':prefix': prefix },
      ExclusiveStartKey: start,
      ConsistentRead: true,
    }),
  );
  const items = (page.Items ?? []).slice(0, limit);
  const more = (page.Items?.length ?? 0) > limit || page.LastEvaluatedKey !== undefined;
  const last = items.at(-1)?.sk;
  return {
    items: items.map((item) => strip<T>(item)),
    ...(more && typeof last === 'string' ? { next: Buffer.from(last).toString('base64url') } : {}),
  };
};

/** A conditional UpdateItem: false when the condition failed (someone else changed the item first). */
export const updateIf = async (table: Table, input: Omit<UpdateCommandInput, 'TableName'>): Promise<boolean> => {
  try {
    await table.db.send(new UpdateCommand({ TableName: table.tableName, ...input }));
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
};

/** `SET #a = :a, #b = :b` for each changed attribute, with its names and values. */
/** SET every field of `changes`; a field given as `undefined` is REMOVEd. */
export const setChanges = (changes: object) => {
  const entries = Object.entries(changes);
  const set = entries.filter(([, value]) => value !== undefined);
  const remove = entries.filter(([, value]) => value === undefined);
  return {
    UpdateExpression: [
      set.length ? `SET ${set.map(([key]) => `#${key} = :${key}`).join(', ')}` : '',
      remove.length ? `REMOVE ${remove.map(([key]) => `#${key}`).join(', ')}` : '',
    ]
      .filter(Boolean)
      .join(' '),
    ExpressionAttributeNames: Object.fromEntries(entries.map(([key]) => [`#${key}`, key])),
    ...(set.length
      ? { ExpressionAttributeValues: Object.fromEntries(set.map(([key, value]) => [`:${key}`, value])) }
      : {}),
  };
};

/**
 * A number an update returned (ReturnValues). A missing one would be a broken table or request, not
 * a zero: say so rather than hand back NaN or undefined as a number.
 */
export const numberAttribute = (attributes: Record<string, unknown> | undefined, name: string, item: string) => {
  const value = attributes?.[name];
  if (typeof value !== 'number') throw new Error(`${item}: the update returned no number for ${name}`);
  return value;
};
