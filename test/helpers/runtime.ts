import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { EventEnvelope } from '../../local/eventbridge-shim.js';
import type { Runtime, RuntimeAuth } from '../../local/runtime.js';

export interface TestRuntime {
  runtime: Runtime;
  url: string;
  /** Calls the API (as admin unless an Authorization header is given); answers the status and the parsed JSON body. */
  api: (
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ) => Promise<{ status: number; body: any }>;
  /** Every item of the table, sorted, once no workflow step is running: the "nothing changed" check. */
  dumpTable: () => Promise<string>;
  /** A token for this runtime. */
  token: (request: { admin?: boolean; project?: string; ttlSeconds?: number }) => Promise<string>;
  /** Every event published so far, in order. */
  events: EventEnvelope[];
  /** Resolves with the first event (already seen or future) matching `predicate`. */
  waitForEvent: (
    predicate: (event: EventEnvelope) => boolean,
    timeoutMs?: number,
    since?: number,
  ) => Promise<EventEnvelope>;
  /** Waits for the session to reach `state` (after event index `since`); fails fast if it fails instead. */
  waitForState: (sessionId: string, state: string, timeoutMs?: number, since?: number) => Promise<EventEnvelope>;
  stop: () => Promise<void>;
}

export interface TestRuntimeOptions {
  inventory?: unknown;
  subscriptions?: unknown;
  env?: Record<string, string>;
  dataDir?: string;
  plugins?: Record<string, (payload: unknown) => Promise<unknown>>;
  /** How callers authenticate (default: local JWTs); with Keystone, pass `x-auth-token` headers to `api`. */
  auth?: RuntimeAuth;
}

/** Fast timers for tests: real windows are tens of seconds. */
export const FAST_ENV = {
  FENIX_PROJECT_MAINTENANCE_REPLY: '2',
  FENIX_PROJECT_SCALE_IN_REPLY: '2',
  FENIX_EMPTY_CHECK_SECONDS: '0',
  FENIX_EMPTY_CHECK_ATTEMPTS: '3',
  FENIX_ACTION_POLL_SECONDS: '1',
};

/** Starts the whole local runtime in this test process (one per test file). */
export const startTestRuntime = async (options: TestRuntimeOptions = {}): Promise<TestRuntime> => {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'fenix-test-'));
  let inventoryFile: string | undefined;
  if (options.inventory) {
    inventoryFile = join(dataDir, 'inventory.json');
    writeFileSync(inventoryFile, JSON.stringify(options.inventory));
  }
  // The tests play every project's VNFM (they read events in-process and reply), so by default
  // every project is subscribed: one catch-all subscription to a sink that accepts and drops. A
  // test about non-interacting projects passes its own list (`[]`: nobody listens).
  const sink = options.subscriptions === undefined ? await startSink() : undefined;
  const subscriptions = options.subscriptions ?? [
    { pattern: { source: ['fenix'], 'detail-type': ['maintenance.scheduled'] }, url: sink?.url },
  ];
  const subscriptionsFile = join(dataDir, 'subscriptions.json');
  writeFileSync(subscriptionsFile, JSON.stringify(subscriptions));
  const { startRuntime } = await import('../../local/runtime.js');
  const runtime = await startRuntime({
    port: 0,
    dataDir,
    inventoryFile,
    subscriptionsFile,
    env: { ...FAST_ENV, ...options.env },
    plugins: options.plugins,
    auth: options.auth,
    log: () => undefined,
  });
  const adminToken = await runtime.token({ admin: true });
  const events: EventEnvelope[] = [];
  const waiters = new Set<{ predicate: (e: EventEnvelope) => boolean; resolve: (e: EventEnvelope) => void }>();
  runtime.bus.onEvent((event) => {
    events.push(event);
    for (const waiter of waiters) {
      if (waiter.predicate(event)) {
        waiters.delete(waiter);
        waiter.resolve(event);
      }
    }
  });
  const waitForEvent = (predicate: (event: EventEnvelope) => boolean, timeoutMs = 30_000, since = 0) => {
    const seen = events.slice(since).find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise<EventEnvelope>((resolve, reject) => {
      const waiter = {
        predicate,
        resolve: (e: EventEnvelope) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(
          new Error(
            `no matching event within ${timeoutMs} ms; last events: ${JSON.stringify(events.slice(-5).map((e) => [e['detail-type'], e.detail.state]))}`,
          ),
        );
      }, timeoutMs);
      waiters.add(waiter);
    });
  };
  return {
    runtime,
    url: runtime.url,
    events,
    waitForEvent,
    // Fails fast, with the recorded reason, when the session fails while another state is awaited.
    waitForState: async (sessionId, state, timeoutMs, since) => {
      const event = await waitForEvent(
        (e) =>
          e['detail-type'] === 'maintenance.session' &&
          e.detail.session_id === sessionId &&
          (e.detail.state === state || e.detail.state === 'MAINTENANCE_FAILED'),
        timeoutMs,
        since,
      );
      if (event.detail.state !== state) {
        const session = await runtime.store.getSession(sessionId);
        throw new Error(`session failed instead of reaching ${state}: ${JSON.stringify(session?.failure)}`);
      }
      return event;
    },
    token: (request) => runtime.token(request),
    dumpTable: async () => {
      await runtime.sfn.settled();
      const { dynamo } = await import('../../functions/shared/clients.js');
      const items: unknown[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const page = await dynamo().send(
          new ScanCommand({ TableName: 'fenix', ExclusiveStartKey: start, ConsistentRead: true }),
        );
        items.push(...(page.Items ?? []));
        start = page.LastEvaluatedKey;
      } while (start);
      return JSON.stringify(items.map((item) => JSON.stringify(item)).sort());
    },
    api: async (method, path, body, headers = {}) => {
      // An empty header value means "send none" (e.g. `authorization: ''` for an anonymous call).
      const merged = {
        authorization: `Bearer ${adminToken}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      };
      const response = await fetch(`${runtime.url}${path}`, {
        method,
        headers: Object.fromEntries(Object.entries(merged).filter(([, value]) => value !== '')),
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: keep the text
      }
      return { status: response.status, body: parsed };
    },
    stop: async () => {
      await runtime.stop();
      await sink?.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
};

/** An HTTP endpoint that answers 204 to everything: where the default subscription delivers. */
export const startSink = async (): Promise<{ url: string; close: () => Promise<void> }> => {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(204).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};

/** `maintenance_at` `seconds` from now, in the Fenix format. */
export const fenixTimeIn = (seconds: number): string =>
  new Date(Math.ceil(Date.now() / 1000) * 1000 + seconds * 1000).toISOString().slice(0, 19).replace('T', ' ');
