import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
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
