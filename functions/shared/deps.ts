import { LocalArtifacts } from '../adapters/artifacts/local-artifacts.js';
import { S3Artifacts } from '../adapters/artifacts/s3-artifacts.js';
import { DynamoConstraintStore } from '../adapters/dynamo/constraints.js';
import { DynamoSessionStore } from '../adapters/dynamo/session-store.js';
import { EventBridgePublisher } from '../adapters/eventbridge-publisher.js';
import { EventBridgeRules } from '../adapters/eventbridge-rules.js';
import { SfnEngine } from '../adapters/sfn-engine.js';
import { SimCloud } from '../adapters/sim-cloud.js';
import type { Deps } from '../core/deps.js';
import { dynamo, eventBridge, novaCloud, s3, sfn } from './clients.js';
import { config } from './config.js';

/**
 * The production wiring of the ports. Adapters are thin wrappers over the shared SDK clients and
 * are built on access, so a handler that never touches a port never needs its environment variable.
 */
export const defaultDeps = (): Deps => {
  return {
    get store() {
      return DynamoSessionStore(dynamo(), config.tableName);
    },
    get constraints() {
      return DynamoConstraintStore(dynamo(), config.tableName);
    },
    get cloud() {
      if (config.cloud === 'openstack') return novaCloud();
      return new SimCloud(dynamo(), config.tableName, { actionSeconds: config.simActionSeconds });
    },
    get events() {
      return new EventBridgePublisher(eventBridge(), config.eventBusName);
    },
    get subscriptions() {
      return new EventBridgeRules(eventBridge(), config.eventBusName);
    },
    get artifacts() {
      const bucket = config.artifactsBucket;
      return bucket ? new S3Artifacts(s3(), bucket) : new LocalArtifacts(config.artifactsDir);
    },
    get engine() {
      return new SfnEngine(sfn(), config.stateMachineArn);
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
      get downloadAllow() {
        return config.downloadAllow;
      },
      get downloadMaxBytes() {
        return config.downloadMaxBytes;
      },
    },
  };
};
