import { Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import {
  ProjectSubscription,
  type SubscriptionSpec,
  subscriptionOutputId,
} from '../constructs/project-subscription.js';

/** Global secondary indexes of the table (both project ALL attributes). */
export const TABLE_INDEXES = ['gsi1', 'gsi2'] as const;

export interface DataStackProps extends StackProps {
  /**
   * Per-project deliveries of `maintenance.scheduled` (see ProjectSubscription): one rule, queue
   * (or event bus target), dead-letter queue and alarm each. Context `subscriptions`.
   * @default - none
   */
  readonly subscriptions?: SubscriptionSpec[];
  /** SNS topic for the subscriptions' dead-letter alarms. @default - none */
  readonly alarmTopicArn?: string;
}

/**
 * Stateful resources, kept apart so the service stack can be replaced freely.
 * Logical IDs here are part of the contract: renaming one replaces the table.
 */
export class DataStack extends Stack {
  /** Single table: sessions, hosts, projects, instances, rounds, replies. */
  readonly table: dynamodb.ITableV2;
  /** Custom bus for `source: fenix` events. */
  readonly bus: events.IEventBus;
  /** Downloaded artefacts (`download`), `<session_id>/<name>`, removed with their session. */
  readonly artifacts: s3.IBucket;

  constructor(scope: Construct, id: string, props?: DataStackProps) {
    super(scope, id, { terminationProtection: true, ...props });

    const str = (name: string) => ({ name, type: dynamodb.AttributeType.STRING });
    this.table = new dynamodb.TableV2(this, 'Table', {
      partitionKey: str('pk'),
      sortKey: str('sk'),
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
      timeToLiveAttribute: 'expires_at',
      globalSecondaryIndexes: TABLE_INDEXES.map((indexName) => ({
        indexName,
        partitionKey: str(`${indexName}pk`),
        sortKey: str(`${indexName}sk`),
        projectionType: dynamodb.ProjectionType.ALL,
      })),
    });

    // No resource policy: only principals of this account, through IAM,
    // can put events. Consumers attach rules (see README).
    const bus = new events.EventBus(this, 'Bus');
    // Lets an operator replay notifications a VNFM missed.
    bus.archive('Archive', {
      description: 'Fenix events, for replay',
      eventPattern: { source: ['fenix'] },
      retention: Duration.days(30),
    });
    this.bus = bus;

    // Artefacts a session downloads: private, encrypted, TLS only; objects the session removal
    // missed expire, and an interrupted multipart upload does not linger.
    const artifacts = new s3.Bucket(this, 'Artifacts', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        { id: 'expire-artifacts', expiration: Duration.days(30) },
        { id: 'abort-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
    Validations.of(artifacts).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        "Only the workflow function writes here (a session's downloads) and the API removes them with their session; enable CloudTrail S3 data events for an audit trail rather than a second bucket of access logs",
    });
    this.artifacts = artifacts;

    // Subscriptions hold undelivered notifications, so they live with the bus they read from.
    const seen = new Map<string, string>();
    for (const spec of props?.subscriptions ?? []) {
      const clash = seen.get(subscriptionOutputId(spec.project));
      if (clash !== undefined) {
        throw new Error(
          clash === spec.project
            ? `subscriptions: project "${spec.project}" is listed twice (one subscription per project)`
            : `subscriptions: projects "${clash}" and "${spec.project}" would share the outputs ${subscriptionOutputId(spec.project)}*`,
        );
      }
      seen.set(subscriptionOutputId(spec.project), spec.project);
      new ProjectSubscription(this, `Subscription-${spec.project}`, {
        ...spec,
        bus,
        alarmTopicArn: props?.alarmTopicArn,
      });
    }
  }
}
