import { DynamoSessionStore } from '../adapters/dynamo-session-store.js';
import { EventBridgePublisher } from '../adapters/eventbridge-publisher.js';
import { SfnEngine } from '../adapters/sfn-engine.js';
import { SimCloud } from '../adapters/sim-cloud.js';
import type { Deps } from '../core/deps.js';
import { dynamo, eventBridge, sfn } from './clients.js';
import { config } from './config.js';

/**
 * The production wiring of the ports, built lazily (first use), so a handler that never touches a
 * port never needs its environment variable.
 */
export const defaultDeps = (): Deps => {
  let store: DynamoSessionStore | undefined;
  let cloud: SimCloud | undefined;
  let events: EventBridgePublisher | undefined;
  let engine: SfnEngine | undefined;
  return {
    get store() {
      return (store ??= new DynamoSessionStore(dynamo(), config.tableName));
    },
    get cloud() {
      return (cloud ??= new SimCloud(dynamo(), config.tableName));
    },
    get events() {
      return (events ??= new EventBridgePublisher(eventBridge(), config.eventBusName));
    },
    get engine() {
      return (engine ??= new SfnEngine(sfn(), config.stateMachineArn));
    },
    clock: { now: () => new Date() },
    settings: {
      get apiBaseUrl() {
        return config.apiBaseUrl;
      },
      get maintenanceReplySeconds() {
        return config.maintenanceReplySeconds;
      },
      get scaleInReplySeconds() {
        return config.scaleInReplySeconds;
      },
      get plugins() {
        return config.plugins;
      },
    },
  };
};
