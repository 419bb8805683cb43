import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { HistoryRecords, InventoryRecords, RoundRecords, SessionRecords, SessionStore } from '../../core/ports.js';
import { historyRecords } from './history.js';
import { inventoryRecords } from './inventory.js';
import { roundRecords } from './rounds.js';
import { sessionRecords } from './sessions.js';

/** The SessionStore port on one DynamoDB table (layout in keys.ts). */
export type DynamoSessionStore = SessionStore;

/** Method names two ports have in common; the check below keeps it `never` for every pair. */
type Shared<A, B> = keyof A & keyof B;
type SharedNames =
  | Shared<SessionRecords, InventoryRecords>
  | Shared<SessionRecords, HistoryRecords>
  | Shared<SessionRecords, RoundRecords>
  | Shared<InventoryRecords, HistoryRecords>
  | Shared<InventoryRecords, RoundRecords>
  | Shared<HistoryRecords, RoundRecords>;
/** Fails to compile (naming the method) if two aggregates' ports ever share a method name. */
export const portsShareNoMethod: [SharedNames] extends [never] ? true : SharedNames = true;

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
