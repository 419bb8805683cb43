import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import type { Runtime } from '../../local/runtime.js';
import type { LocalFunction } from '../../local/sfn-shim.js';

/**
 * Read-only instrumentation of a local runtime for the benchmark; nothing here changes behaviour.
 *   - DynamoDB: a middleware on the shared SDK client counts requests per operation and asks for
 *     ConsumedCapacity (dynalite computes it as DynamoDB does: 1 KB write units, 4 KB read units),
 *     split by who called: the workflow Lambda, the API Lambdas, or the benchmark itself.
 *   - The workflow Lambda: calls and durations per task action (wrapping the registered function).
 *   - EventBridge: PutEvents entries per detail-type and their sizes.
 */

export type Origin = 'workflow' | 'api' | 'bench';
const context = new AsyncLocalStorage<{ origin: Origin; action?: string }>();

/** Runs `fn` with DynamoDB calls attributed to `origin` (API handlers run outside any origin → 'api'). */
export const attribute = <T>(origin: Origin, fn: () => T, action?: string): T => context.run({ origin, action }, fn);

/**
 * The product functions on the stack of a DynamoDB call, e.g. "enter > refreshSnapshot >
 * Object.putInstances" (store methods live on plain objects; async stack traces keep the awaiting callers).
 */
const callers = (): string => {
  const frames = (new Error().stack ?? '').split('\n').slice(1);
  const names: string[] = [];
  for (const frame of frames) {
    const match = /at (?:async )?([\w$.<>]+) \(.*\/functions\/(core|adapters|shared|api|workflow)\//.exec(frame);
    const name = match?.[1];
    if (name !== undefined && !names.includes(name)) names.push(name);
  }
  return names.reverse().join(' > ') || '(unknown)';
};

interface OpCount {
  requests: number;
  readUnits: number;
  writeUnits: number;
}

export interface DynamoCounts {
  byOrigin: Record<
    Origin,
    { requests: number; readUnits: number; writeUnits: number; byOperation: Record<string, OpCount> }
  >;
}

export interface ActionStats {
  calls: number;
  totalMs: number;
  /** Durations in call order, to show whether a step gets slower as the session advances. */
  durations: number[];
  errors: number;
}

const READ_OPS = new Set(['GetItemCommand', 'QueryCommand', 'ScanCommand', 'BatchGetItemCommand']);

export const instrument = async (runtime: Runtime, options: { traceCallers?: boolean } = {}) => {
  /** DynamoDB requests per workflow action (and, with traceCallers, per calling product function). */
  const dynamoByAction: Record<string, { requests: number; units: number }> = {};
  const dynamoByCaller: Record<string, number> = {};
  /** The largest payloads seen (bytes of JSON): a bound that must not grow with instances or projects. */
  const largest = { dynamoItem: 0, dynamoItemKey: '', lambdaPayload: 0, lambdaResult: 0, event: 0, eventType: '' };
  const itemBytes = (item: unknown) => Buffer.byteLength(JSON.stringify(item ?? null));
  const noteItem = (item: Record<string, unknown> | undefined) => {
    if (!item) return;
    const bytes = itemBytes(item);
    if (bytes > largest.dynamoItem) {
      largest.dynamoItem = bytes;
      largest.dynamoItemKey = `${String(item.pk)} / ${String(item.sk)}`;
    }
  };
  const dynamo: DynamoCounts = {
    byOrigin: {
      workflow: { requests: 0, readUnits: 0, writeUnits: 0, byOperation: {} },
      api: { requests: 0, readUnits: 0, writeUnits: 0, byOperation: {} },
      bench: { requests: 0, readUnits: 0, writeUnits: 0, byOperation: {} },
    },
  };
  const { dynamo: documentClient } = await import('../../functions/shared/clients.js');
  documentClient().middlewareStack.add(
    (next, ctx) => async (args) => {
      const input = args.input as Record<string, unknown>;
      input.ReturnConsumedCapacity ??= 'TOTAL';
      noteItem(input.Item as Record<string, unknown> | undefined);
      // BatchWrite's RequestItems hold a list of requests per table; BatchGet's hold `{Keys}`: nothing written.
      for (const requests of Object.values((input.RequestItems as Record<string, unknown> | undefined) ?? {})) {
        if (!Array.isArray(requests)) continue;
        for (const request of requests as { PutRequest?: { Item: Record<string, unknown> } }[])
          noteItem(request.PutRequest?.Item);
      }
      const result = await next(args);
      const store = context.getStore();
      const origin = store?.origin ?? 'api';
      const action = store?.action ?? (origin === 'api' ? 'api' : origin);
      const byAction = dynamoByAction[action] ?? { requests: 0, units: 0 };
      dynamoByAction[action] = byAction;
      byAction.requests++;
      if (options.traceCallers) {
        const key = `${action}: ${callers()}`;
        dynamoByCaller[key] = (dynamoByCaller[key] ?? 0) + 1;
      }
      const operation = String((ctx as { commandName?: string }).commandName ?? 'unknown');
      const consumed = (
        result.output as { ConsumedCapacity?: { CapacityUnits?: number } | { CapacityUnits?: number }[] }
      ).ConsumedCapacity;
      const units = (Array.isArray(consumed) ? consumed : consumed ? [consumed] : []).reduce(
        (sum, c) => sum + (c.CapacityUnits ?? 0),
        0,
      );
      const bucket = dynamo.byOrigin[origin];
      const op = bucket.byOperation[operation] ?? { requests: 0, readUnits: 0, writeUnits: 0 };
      bucket.byOperation[operation] = op;
      bucket.requests++;
      op.requests++;
      // A conditional write that fails still costs a write unit; dynalite then returns no capacity.
      const isRead = READ_OPS.has(operation);
      const charged = units || (isRead ? 0.5 : 1);
      byAction.units += charged;
      if (isRead) {
        bucket.readUnits += charged;
        op.readUnits += charged;
      } else {
        bucket.writeUnits += charged;
        op.writeUnits += charged;
      }
      return result;
    },
    { step: 'initialize', name: 'fenixBenchCounter', priority: 'high' },
  );

  // The workflow Lambda as the SFN shim calls it (its function map is private: wrapped, not changed).
  const actions = new Map<string, ActionStats>();
  const functions = Reflect.get(runtime.sfn, 'functions') as Map<string, LocalFunction>;
  for (const [name, fn] of functions) {
    functions.set(name, (payload) => {
      const action = name === 'fenix-workflow' ? String((payload as { action?: string }).action) : name;
      const stats = actions.get(action) ?? { calls: 0, totalMs: 0, durations: [], errors: 0 };
      actions.set(action, stats);
      largest.lambdaPayload = Math.max(largest.lambdaPayload, itemBytes(payload));
      const started = performance.now();
      const done = () => {
        const ms = performance.now() - started;
        stats.calls++;
        stats.totalMs += ms;
        stats.durations.push(ms);
      };
      return attribute('workflow', () => fn(payload), action).then(
        (value) => {
          done();
          largest.lambdaResult = Math.max(largest.lambdaResult, itemBytes(value));
          return value;
        },
        (error: unknown) => {
          done();
          stats.errors++;
          throw error;
        },
      );
    });
  }

  const events = { entries: 0, bytes: 0, chunks64k: 0, byType: {} as Record<string, number> };
  runtime.bus.onEvent((event) => {
    const size =
      Buffer.byteLength(JSON.stringify(event.detail)) + event['detail-type'].length + event.source.length + 14;
    events.entries++;
    if (size > largest.event) {
      largest.event = size;
      largest.eventType = `${event['detail-type']} ${String(event.detail.state ?? '')}`;
    }
    events.bytes += size;
    events.chunks64k += Math.ceil(size / 65536);
    events.byType[event['detail-type']] = (events.byType[event['detail-type']] ?? 0) + 1;
  });

  return { dynamo, dynamoByAction, dynamoByCaller, actions, events, largest };
};

export type Instruments = Awaited<ReturnType<typeof instrument>>;
