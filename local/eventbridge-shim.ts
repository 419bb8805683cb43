import { randomUUID } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { type EventPattern, matchesEventPattern, validateEventPattern } from '../functions/core/event-pattern.js';
import type { Operations } from './aws-json-server.js';

/** The envelope EventBridge delivers to targets (and an API destination POSTs). */
export interface EventEnvelope {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

export interface Subscription {
  pattern: EventPattern;
  url: string;
}

const MAX_ENTRY_BYTES = 256 * 1024;
const DELIVERY_ATTEMPTS = 5;

/** Reads and checks `FENIX_SUBSCRIPTIONS`: a JSON array of `{pattern, url}`; a bad file stops start-up. */
export const loadSubscriptions = (file: string): Subscription[] => {
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!Array.isArray(parsed))
    throw new Error(`${file}: expected a JSON array of {"pattern": {...}, "url": "http://..."}`);
  return parsed.map((entry, index) => {
    const { pattern, url } = (entry ?? {}) as { pattern?: unknown; url?: unknown };
    if (typeof url !== 'string' || !/^https?:\/\//.test(url))
      throw new Error(`${file}[${index}].url must be an http(s) URL`);
    validateEventPattern(pattern);
    return { pattern, url };
  });
};

/**
 * EventBridge for the local runtime: PutEvents (through AWS_ENDPOINT_URL_EVENTBRIDGE) appends every
 * event to `events.ndjson` and POSTs it, as the full envelope, to each subscription whose pattern
 * matches, like an API destination: asynchronously, retried with backoff, at least once.
 */
export class LocalEventBridge {
  private readonly listeners = new Set<(event: EventEnvelope) => void>();
  private readonly deliveries = new Set<Promise<void>>();

  constructor(
    private readonly subscriptions: Subscription[],
    private readonly logFile: string,
    private readonly region = 'us-east-1',
    private readonly account = '000000000000',
  ) {}

  /** In-process listeners (tests, the CLI's watch) see every event, as a catch-all rule would. */
  onEvent(listener: (event: EventEnvelope) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get operations(): Operations {
    return {
      PutEvents: (input) => {
        const entries = (input.Entries as Record<string, unknown>[] | undefined) ?? [];
        const results = entries.map((entry) => this.put(entry));
        return { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results };
      },
      // The subscriptions, as the rules on the bus they stand for (the engine asks which projects listen).
      ListRules: (input) => ({
        Rules: this.subscriptions.map((subscription, index) => ({
          Name: `fenix-subscription-${index + 1}`,
          Arn: `arn:aws:events:${this.region}:${this.account}:rule/${String(input.EventBusName ?? 'default')}/fenix-subscription-${index + 1}`,
          EventBusName: String(input.EventBusName ?? 'default'),
          EventPattern: JSON.stringify(subscription.pattern),
          State: 'ENABLED',
        })),
      }),
    };
  }

  /** Resolves when every delivery started so far has finished (or given up). */
  async flush(): Promise<void> {
    while (this.deliveries.size > 0) await Promise.all([...this.deliveries]);
  }

  private put(entry: Record<string, unknown>): { EventId: string } | { ErrorCode: string; ErrorMessage: string } {
    const detail = typeof entry.Detail === 'string' ? entry.Detail : '{}';
    if (Buffer.byteLength(detail) + String(entry.DetailType ?? '').length > MAX_ENTRY_BYTES) {
      return {
        ErrorCode: 'ValidationException',
        ErrorMessage: 'Total size of the entries in the request is over the limit.',
      };
    }
    const event: EventEnvelope = {
      version: '0',
      id: randomUUID(),
      'detail-type': String(entry.DetailType),
      source: String(entry.Source),
      account: this.account,
      time: `${new Date().toISOString().slice(0, 19)}Z`,
      region: this.region,
      resources: (entry.Resources as string[] | undefined) ?? [],
      detail: JSON.parse(detail) as Record<string, unknown>,
    };
    appendFileSync(this.logFile, `${JSON.stringify(event)}\n`);
    for (const listener of this.listeners) listener(event);
    for (const subscription of this.subscriptions) {
      if (!matchesEventPattern(subscription.pattern, event)) continue;
      const delivery = this.deliver(subscription.url, event).finally(() => this.deliveries.delete(delivery));
      this.deliveries.add(delivery);
    }
    return { EventId: event.id };
  }

  private async deliver(url: string, event: EventEnvelope): Promise<void> {
    for (let attempt = 1; attempt <= DELIVERY_ATTEMPTS; attempt++) {
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(event),
          signal: AbortSignal.timeout(5000),
        });
        await response.arrayBuffer();
        // As API destinations: 4xx other than 429 is final, 5xx and 429 are retried.
        if (response.ok || (response.status < 500 && response.status !== 429)) return;
      } catch {
        // connection refused or timed out: retry
      }
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
    }
    console.error(
      `fenix: gave up delivering ${event['detail-type']} ${event.id} to ${url} after ${DELIVERY_ATTEMPTS} attempts`,
    );
  }
}
