import { CfnOutput, Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/**
 * One project's subscription, as listed in the `subscriptions` context (a JSON list):
 *
 * ```json
 * [
 *   { "project": "p1" },
 *   { "project": "p2", "consumer": "111122223333" },
 *   { "project": "p3", "eventBusArn": "arn:aws:events:eu-west-1:444455556666:event-bus/vnfm" }
 * ]
 * ```
 *
 * - `{project}` alone: an SQS queue in this account (read it with this account's credentials).
 * - `consumer`: the same, and the queue policy lets that AWS account id (or IAM role/user ARN)
 *   receive and delete its messages, e.g. a VNFM polling from its own account.
 * - `eventBusArn`: delivery to an event bus, typically the VNFM's in another account; that bus's
 *   resource policy must allow `events:PutEvents` from this account (or from the role in the
 *   output `…TargetRoleArn`).
 * - `retryAttempts` / `maxEventAgeSeconds`: EventBridge's retry policy for the SQS target
 *   (default 10 attempts within one hour: a notification older than its reply window is moot,
 *   and the dead-letter alarm brings an operator in). EventBridge takes no retry policy for an
 *   event bus target; its own default applies there.
 */
export interface SubscriptionSpec {
  readonly project: string;
  readonly consumer?: string;
  readonly eventBusArn?: string;
  readonly retryAttempts?: number;
  readonly maxEventAgeSeconds?: number;
}

export interface ProjectSubscriptionProps extends SubscriptionSpec {
  /** The Fenix bus. */
  readonly bus: events.IEventBus;
  /** SNS topic the dead-letter alarm notifies. @default - none */
  readonly alarmTopicArn?: string;
}

const PROJECT_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$/;
const EVENT_BUS_ARN = /^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/[A-Za-z0-9._\-/]{1,256}$/;
const CONSUMER = /^(\d{12}|arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@\-/]{1,512})$/;

/** Checks one context entry; the message names the entry and the field. */
export const checkSubscription = (spec: unknown, index: number): SubscriptionSpec => {
  const where = `subscriptions[${index}]`;
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec))
    throw new Error(`${where} must be an object such as {"project": "p1"}`);
  const { project, consumer, eventBusArn, retryAttempts, maxEventAgeSeconds, ...rest } = spec as Record<
    string,
    unknown
  >;
  const unknown = Object.keys(rest);
  if (unknown.length > 0)
    throw new Error(
      `${where}: unknown field ${unknown.join(', ')} (allowed: project, consumer, eventBusArn, retryAttempts, maxEventAgeSeconds)`,
    );
  if (typeof project !== 'string' || !PROJECT_ID.test(project))
    throw new Error(`${where}.project must be a project id, got ${JSON.stringify(project)}`);
  if (consumer !== undefined && (typeof consumer !== 'string' || !CONSUMER.test(consumer))) {
    throw new Error(`${where}.consumer must be a 12-digit AWS account id or an IAM role/user ARN`);
  }
  if (eventBusArn !== undefined && (typeof eventBusArn !== 'string' || !EVENT_BUS_ARN.test(eventBusArn))) {
    throw new Error(
      `${where}.eventBusArn must be an event bus ARN (arn:aws:events:<region>:<account>:event-bus/<name>)`,
    );
  }
  if (consumer !== undefined && eventBusArn !== undefined)
    throw new Error(`${where}: consumer is for the queue; an eventBusArn subscription has no queue`);
  if (
    retryAttempts !== undefined &&
    (!Number.isInteger(retryAttempts) || (retryAttempts as number) < 0 || (retryAttempts as number) > 185)
  ) {
    throw new Error(`${where}.retryAttempts must be a whole number from 0 to 185`);
  }
  if (
    maxEventAgeSeconds !== undefined &&
    (!Number.isInteger(maxEventAgeSeconds) ||
      (maxEventAgeSeconds as number) < 60 ||
      (maxEventAgeSeconds as number) > 86_400)
  ) {
    throw new Error(`${where}.maxEventAgeSeconds must be a whole number from 60 to 86400`);
  }
  if (eventBusArn !== undefined && (retryAttempts !== undefined || maxEventAgeSeconds !== undefined)) {
    throw new Error(
      `${where}: EventBridge takes no retry policy for an event bus target; drop retryAttempts/maxEventAgeSeconds`,
    );
  }
  return { project, consumer, eventBusArn, retryAttempts, maxEventAgeSeconds } as SubscriptionSpec;
};

/** Letters and digits of a project id: the stack output names use it. */
export const subscriptionOutputId = (project: string): string => `Subscription${project.replace(/[^A-Za-z0-9]/g, '')}`;

/**
 * Delivers one project's `maintenance.scheduled` events (and only that project's: the rule
 * matches `detail.project_id`) to an SQS queue here or to an event bus elsewhere, with a
 * dead-letter queue for what EventBridge could not deliver and an alarm on it. The queue's own
 * redrive goes to the same dead-letter queue, so a notification the VNFM fails to process
 * ends up in the same place as one it never received.
 *
 * Created from the `subscriptions` context (see SubscriptionSpec), so a bare deploy creates none.
 * It is also the example of a per-project rule a VNFM team can copy into its own stack:
 *
 * ```ts
 * new ProjectSubscription(this, 'Vnfm', { bus, project: 'p1' });
 * ```
 */
export class ProjectSubscription extends Construct {
  readonly rule: events.Rule;
  readonly deadLetters: sqs.Queue;
  /** Absent for an event bus subscription. */
  readonly queue?: sqs.Queue;
  readonly deadLetterAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ProjectSubscriptionProps) {
    super(scope, id);
    const { project, consumer, eventBusArn, retryAttempts, maxEventAgeSeconds } = props;
    const spec = checkSubscription(
      Object.fromEntries(
        Object.entries({ project, consumer, eventBusArn, retryAttempts, maxEventAgeSeconds }).filter(
          ([, v]) => v !== undefined,
        ),
      ),
      0,
    );
    const outputId = subscriptionOutputId(spec.project);

    this.deadLetters = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });

    this.rule = new events.Rule(this, 'Rule', {
      eventBus: props.bus,
      description: `maintenance.scheduled for project ${spec.project}`,
      eventPattern: {
        source: ['fenix'],
        detailType: ['maintenance.scheduled'],
        detail: { project_id: [spec.project] },
      },
    });

    if (spec.eventBusArn) {
      const target = events.EventBus.fromEventBusArn(this, 'TargetBus', spec.eventBusArn);
      // CDK gives the target its own role, allowed events:PutEvents on that bus only.
      this.rule.addTarget(new targets.EventBus(target, { deadLetterQueue: this.deadLetters }));
      Validations.of(this.deadLetters).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason: `This queue is itself a dead-letter queue: that of the rule delivering project ${spec.project}'s events to ${spec.eventBusArn} (an EventBridge DeadLetterConfig, which cdk-nag does not recognise)`,
      });
    } else {
      this.queue = new sqs.Queue(this, 'Queue', {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        // A notification matters for its reply window (seconds to minutes); a day covers outages.
        retentionPeriod: Duration.days(1),
        deadLetterQueue: { queue: this.deadLetters, maxReceiveCount: 5 },
      });
      // Adds the queue policy: events.amazonaws.com, from this rule only.
      this.rule.addTarget(
        new targets.SqsQueue(this.queue, {
          deadLetterQueue: this.deadLetters,
          retryAttempts: spec.retryAttempts ?? 10,
          maxEventAge: Duration.seconds(spec.maxEventAgeSeconds ?? 3600),
        }),
      );
      if (spec.consumer) {
        const consumer = /^\d{12}$/.test(spec.consumer)
          ? new iam.AccountPrincipal(spec.consumer)
          : new iam.ArnPrincipal(spec.consumer);
        this.queue.addToResourcePolicy(
          new iam.PolicyStatement({
            principals: [consumer],
            actions: [
              'sqs:ReceiveMessage',
              'sqs:DeleteMessage',
              'sqs:ChangeMessageVisibility',
              'sqs:GetQueueAttributes',
              'sqs:GetQueueUrl',
            ],
            resources: [this.queue.queueArn],
          }),
        );
      }
      new CfnOutput(this, 'QueueUrl', {
        value: this.queue.queueUrl,
        description: `maintenance.scheduled events of project ${spec.project}`,
      }).overrideLogicalId(`${outputId}QueueUrl`);
      new CfnOutput(this, 'QueueArn', { value: this.queue.queueArn }).overrideLogicalId(`${outputId}QueueArn`);
    }
    new CfnOutput(this, 'DeadLettersUrl', {
      value: this.deadLetters.queueUrl,
      description: `maintenance.scheduled events of project ${spec.project} that were not delivered or not processed`,
    }).overrideLogicalId(`${outputId}DeadLettersUrl`);

    this.deadLetterAlarm = new cloudwatch.Alarm(this, 'DeadLetterAlarm', {
      alarmDescription: `Notifications for project ${spec.project} were dead-lettered (not delivered, or not processed by the VNFM)`,
      metric: this.deadLetters.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopicArn) {
      this.deadLetterAlarm.addAlarmAction(
        new cloudwatchActions.SnsAction(sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn)),
      );
    }
  }
}
