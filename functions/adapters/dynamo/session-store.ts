import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SessionStore } from '../../core/ports.js';
import { historyRecords } from './history.js';
import { inventoryRecords } from './inventory.js';
import { roundRecords } from './rounds.js';
import { sessionRecords } from './sessions.js';

/** The SessionStore port on one DynamoDB table (layout in keys.ts). */
export type DynamoSessionStore = SessionStore;

/**
 * The store is the union of one module an aggregate, all on the same table. The ports of the
 * aggregates share no method name (SessionStore is their intersection), so spreading loses nothing.
 */
export const DynamoSessionStore = (db: DynamoDBDocumentClient, tableName: string): DynamoSessionStore => {
  const table = { db, tableName };
  return {
    ...sessionRecords(table),
    ...inventoryRecords(table),
    ...historyRecords(table),
    ...roundRecords(table),
  };
};
