import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import type { Construct } from 'constructs';

/** Global secondary indexes of the table (both project ALL attributes). */
export const TABLE_INDEXES = ['gsi1', 'gsi2'] as const;

/**
 * Stateful resources, kept apart so the service stack can be replaced freely.
 * Logical IDs here are part of the contract: renaming one replaces the table.
 */
export class DataStack extends Stack {
  /** Single table: sessions, hosts, projects, instances, rounds, replies. */
  readonly table: dynamodb.ITableV2;
  /** Custom bus for `source: fenix` events. */
  readonly bus: events.IEventBus;

  constructor(scope: Construct, id: string, props?: StackProps) {
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
  }
}
