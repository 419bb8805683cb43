import { type EventBridgeClient, ListRulesCommand } from '@aws-sdk/client-eventbridge';
import type { EventPattern } from '../core/event-pattern.js';
import type { SubscriptionRules } from '../core/ports.js';

/**
 * The subscriptions on the fenix bus, as EventBridge lists them: enabled rules with an event pattern.
 * Rules EventBridge manages itself (the bus archive, `ManagedBy` set) deliver to nobody and are left
 * out. Locally the EventBridge stand-in answers ListRules with the `FENIX_SUBSCRIPTIONS` entries.
 */
export class EventBridgeRules implements SubscriptionRules {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
  ) {}

  async listPatterns(): Promise<EventPattern[]> {
    const patterns: EventPattern[] = [];
    let next: string | undefined;
    do {
      const page = await this.client.send(
        new ListRulesCommand({ EventBusName: this.busName, NextToken: next, Limit: 100 }),
      );
      for (const rule of page.Rules ?? []) {
        if (rule.State !== 'ENABLED' || rule.ManagedBy || !rule.EventPattern) continue;
        try {
          patterns.push(JSON.parse(rule.EventPattern) as EventPattern);
        } catch {
          // EventBridge stores only valid JSON; a rule we cannot read delivers nothing we can reason about.
        }
      }
      next = page.NextToken;
    } while (next);
    return patterns;
  }
}
