/**
 * Delivering Fenix events to a VNFM, as CDK constructs (docs/vnfm-guide.md). Deploy them in the
 * account of the Fenix bus (its ARN is the FenixService stack output `EventBusArn`):
 *
 *   const bus = events.EventBus.fromEventBusArn(this, 'FenixBus', fenixBusArn);
 *   new CrossAccountSubscription(this, 'VnfA', { bus, projectId: 'vnf-a', targetBusArn: 'arn:aws:events:eu-west-1:222233334444:event-bus/maintenance' });
 *   new WebhookSubscription(this, 'VnfB', { bus, projectId: 'vnf-b', url: 'https://vnfm-b.example.com/maintenance', apiKeySecretName: 'vnf-b/webhook-key' });
 *
 * `test/contract/docs-examples.test.ts` synthesizes these.
 */
import { Duration, SecretValue } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** The rule pattern of one project's notifications (DESIGN §5). */
export const projectPattern = (projectId: string): events.EventPattern => ({
  source: ['fenix'],
  detailType: ['maintenance.scheduled'],
  detail: { project_id: [projectId] },
});

/** Forwards a project's notifications to an event bus in the VNFM's own account. */
export class CrossAccountSubscription extends Construct {
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: { bus: events.IEventBus; projectId: string; targetBusArn: string }) {
    super(scope, id);
    const target = events.EventBus.fromEventBusArn(this, 'TargetBus', props.targetBusArn);
    this.rule = new events.Rule(this, 'Rule', {
      eventBus: props.bus,
      description: `Fenix notifications of project ${props.projectId} to its VNFM account`,
      eventPattern: projectPattern(props.projectId),
      // CDK creates the role EventBridge uses to put the events on the other account's bus.
      targets: [new targets.EventBus(target)],
    });
  }
}

/**
 * In the VNFM's account: the bus that receives the notifications, open to the Fenix account only.
 * Rules on it then route them to the VNFM (Lambda, SQS, Step Functions …).
 */
export class ReceivingBus extends Construct {
  readonly bus: events.EventBus;

  constructor(scope: Construct, id: string, props: { fenixAccount: string }) {
    super(scope, id);
    this.bus = new events.EventBus(this, 'Bus', { eventBusName: 'maintenance' });
    this.bus.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'FenixMayPutEvents',
        principals: [new iam.AccountPrincipal(props.fenixAccount)],
        actions: ['events:PutEvents'],
        resources: [this.bus.eventBusArn],
      }),
    );
  }
}

/**
 * POSTs a project's notifications to the VNFM's HTTPS webhook (an API destination). The body is the
 * whole EventBridge envelope, exactly what the local runtime's FENIX_SUBSCRIPTIONS sends. Failed
 * deliveries are retried for up to a day, then kept in a dead-letter queue.
 */
export class WebhookSubscription extends Construct {
  readonly rule: events.Rule;
  readonly deadLetters: sqs.Queue;

  constructor(
    scope: Construct,
    id: string,
    props: { bus: events.IEventBus; projectId: string; url: string; apiKeySecretName: string },
  ) {
    super(scope, id);
    const connection = new events.Connection(this, 'Connection', {
      description: `Webhook of the VNFM of project ${props.projectId}`,
      authorization: events.Authorization.apiKey('x-api-key', SecretValue.secretsManager(props.apiKeySecretName)),
    });
    const destination = new events.ApiDestination(this, 'Destination', {
      connection,
      endpoint: props.url,
      httpMethod: events.HttpMethod.POST,
      rateLimitPerSecond: 10,
    });
    this.deadLetters = new sqs.Queue(this, 'DeadLetters', { enforceSSL: true, retentionPeriod: Duration.days(14) });
    this.rule = new events.Rule(this, 'Rule', {
      eventBus: props.bus,
      description: `Fenix notifications of project ${props.projectId} to its webhook`,
      eventPattern: projectPattern(props.projectId),
      targets: [
        new targets.ApiDestination(destination, {
          retryAttempts: 185,
          maxEventAge: Duration.hours(24),
          deadLetterQueue: this.deadLetters,
        }),
      ],
    });
  }
}
