import { type EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { mapLimit } from '../core/concurrency.js';
import { EVENT_SOURCE, type FenixEvent } from '../core/events.js';
import type { EventPublisher } from '../core/ports.js';

/** PutEvents takes at most 10 entries per call. */
const BATCH = 10;
const MAX_ATTEMPTS = 6;

/**
 * Publishes to the Fenix bus in batches of 10, retrying only the entries EventBridge reports as
 * failed (PutEvents is not all-or-nothing). Consumers drop repeats by (session_id, event_seq).
 */
export class EventBridgePublisher implements EventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
  ) {}

  async publish(events: FenixEvent[]): Promise<void> {
    const entries: PutEventsRequestEntry[] = events.map((event) => ({
      EventBusName: this.busName,
      Source: EVENT_SOURCE,
      DetailType: event.detailType,
      Detail: JSON.stringify(event.detail),
    }));
    const batches: PutEventsRequestEntry[][] = [];
    for (let i = 0; i < entries.length; i += BATCH) batches.push(entries.slice(i, i + BATCH));
    await mapLimit(batches, 8, (batch) => this.putWithRetry(batch));
  }

  private async putWithRetry(batch: PutEventsRequestEntry[]): Promise<void> {
    let pending = batch;
    for (let attempt = 1; ; attempt++) {
      const result = await this.client.send(new PutEventsCommand({ Entries: pending }));
      if (!result.FailedEntryCount) return;
      // Results are positional: keep the entries whose result carries an error code.
      const failed = pending.filter((_, index) => result.Entries?.[index]?.ErrorCode);
      if (attempt >= MAX_ATTEMPTS) {
        const reason = result.Entries?.find((entry) => entry.ErrorCode)?.ErrorMessage ?? 'unknown error';
        throw new Error(`EventBridge refused ${failed.length} events after ${attempt} attempts: ${reason}`);
      }
      pending = failed;
      await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
    }
  }
}
