import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { SESSION_STATES } from '../../functions/core/states.js';
import type { Workflow } from './workflow.js';

/** Namespace of the metrics Fenix derives from its own events. */
export const METRIC_NAMESPACE = 'Fenix';
/** One data point per `maintenance.session` event, with the dimension `State` (the state entered). */
export const SESSION_STATE_METRIC = 'SessionStateEntered';

export interface ObservabilityProps {
  /** The bus the workflow publishes `maintenance.session` events on. */
  readonly bus: events.IEventBus;
  readonly httpApi: apigwv2.HttpApi;
  /** The session state machine: its failed executions are failed sessions. */
  readonly sessionWorkflow: Workflow;
  /** The per-host child state machine, when there is one. */
  readonly hostWorkflow?: Workflow;
  /** Functions whose errors and throttles are graphed. */
  readonly functions: lambda.IFunction[];
  /**
   * SNS topic the alarms notify (e.g. one with an e-mail or chat subscription).
   * @default - the alarms only change state (visible on the dashboard and in the console)
   */
  readonly alarmTopicArn?: string;
  /**
   * Log groups whose structured lines become metrics: the reply handler's `reply recorded`
   * (reply latency) and the workflow's `host maintained` (duration) and `round failed`.
   * @default - no such metrics
   */
  readonly metricLogs?: { readonly replies: logs.ILogGroup; readonly workflow: logs.ILogGroup };
  /** @default - one month */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * What an operator looks at: one CloudWatch dashboard and the alarms that matter.
 *
 * - Sessions by state: a rule copies every `maintenance.session` event into a log group, and a
 *   metric filter turns each into `Fenix/SessionStateEntered{State=<state entered>}`. No product
 *   code emits metrics, and the log group doubles as an audit trail of every state change.
 * - Session executions (AWS/States): started, succeeded, failed, aborted (deleted sessions),
 *   timed out; a failed session ends its execution in a Fail state, so ExecutionsFailed counts
 *   failed sessions.
 * - API (AWS/ApiGateway): requests, 4xx, 5xx, latency; Lambda: errors and throttles per function.
 * - Alarms: a failed session (ExecutionsFailed > 0, the one that matters) and any API 5xx (the
 *   contract says there are none). Both treat missing data as OK: no sessions is not a problem.
 */
export class Observability extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  readonly sessionsFailedAlarm: cloudwatch.Alarm;
  readonly apiServerErrorsAlarm: cloudwatch.Alarm;
  /** Every `maintenance.session` event, as EventBridge delivered it. */
  readonly sessionEvents: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const period = Duration.minutes(5);

    // ------------------------------------------------ maintenance.session events → log → metric
    this.sessionEvents = new logs.LogGroup(this, 'SessionEvents', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    });
    // The native resource policy (CDK's CloudWatchLogGroup target would add a custom-resource
    // Lambda for it): EventBridge may write to this log group and no other. CloudWatch Logs allows
    // 10 resource policies per account and Region; this stack uses one.
    new logs.CfnResourcePolicy(this, 'SessionEventsPolicy', {
      policyName: `${stack.stackName}-${this.node.addr.slice(0, 8)}-session-events`,
      policyDocument: stack.toJsonString(
        new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              principals: [
                new iam.ServicePrincipal('events.amazonaws.com'),
                new iam.ServicePrincipal('delivery.logs.amazonaws.com'),
              ],
              actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
              resources: [this.sessionEvents.logGroupArn],
            }),
          ],
        }).toJSON(),
      ),
    });
    const deadLetters = new sqs.Queue(this, 'SessionEventsDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(deadLetters).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself a dead-letter queue: that of the rule copying maintenance.session events to CloudWatch Logs (an EventBridge DeadLetterConfig, which cdk-nag does not recognise)',
    });
    const rule = new events.Rule(this, 'SessionEventsRule', {
      eventBus: props.bus,
      description: 'Copies maintenance.session events to CloudWatch Logs (sessions-by-state metrics)',
      eventPattern: { source: ['fenix'], detailType: ['maintenance.session'] },
    });
    rule.addTarget({
      bind: (boundRule) => {
        targets.addToDeadLetterQueueResourcePolicy(boundRule, deadLetters);
        return {
          arn: stack.formatArn({
            service: 'logs',
            resource: 'log-group',
            resourceName: this.sessionEvents.logGroupName,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
          ...targets.bindBaseTargetConfig({
            deadLetterQueue: deadLetters,
            retryAttempts: 20,
            maxEventAge: Duration.hours(2),
          }),
        };
      },
    });
    new logs.MetricFilter(this, 'SessionStates', {
      logGroup: this.sessionEvents,
      filterPattern: logs.FilterPattern.exists('$.detail.state'),
      metricNamespace: METRIC_NAMESPACE,
      metricName: SESSION_STATE_METRIC,
      metricValue: '1',
      dimensions: { State: '$.detail.state' },
      unit: cloudwatch.Unit.COUNT,
    });
    const entered = (state: string) =>
      new cloudwatch.Metric({
        namespace: METRIC_NAMESPACE,
        metricName: SESSION_STATE_METRIC,
        dimensionsMap: { State: state },
        statistic: cloudwatch.Stats.SUM,
        period,
        label: state,
      });

    // ---------------------------------------------------------------------------- alarms
    const machine = props.sessionWorkflow.stateMachine;
    this.sessionsFailedAlarm = new cloudwatch.Alarm(this, 'SessionsFailed', {
      alarmDescription:
        'A maintenance session failed (its execution ended in MaintenanceFailed). GET /v1/maintenance/{session_id}/detail says why; PUT /v1/maintenance/{session_id} continues it.',
      metric: machine.metricFailed({ period: Duration.minutes(1), statistic: cloudwatch.Stats.SUM }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.apiServerErrorsAlarm = new cloudwatch.Alarm(this, 'ApiServerErrors', {
      alarmDescription:
        'The API answered 5xx (it should never: every refusal is a 4xx). The access log and the handler logs have the request id.',
      metric: props.httpApi.metricServerError({ period: Duration.minutes(1), statistic: cloudwatch.Stats.SUM }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopicArn) {
      const action = new cloudwatchActions.SnsAction(sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn));
      for (const alarm of [this.sessionsFailedAlarm, this.apiServerErrorsAlarm]) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
    }

    // ------------------------------------------------------------------------- dashboard
    const executions = (workflow: Workflow, label: string) => [
      workflow.stateMachine.metricStarted({ period, label: `${label} started` }),
      workflow.stateMachine.metricSucceeded({ period, label: `${label} succeeded` }),
      workflow.stateMachine.metricFailed({ period, label: `${label} failed` }),
      workflow.stateMachine.metricAborted({ period, label: `${label} aborted` }),
      workflow.stateMachine.metricTimedOut({ period, label: `${label} timed out` }),
    ];
    const api = props.httpApi;
    /** `CreateSessionFunction`, not `Resource`: the construct that owns the function. */
    const fromLogs = (
      id: string,
      logGroup: logs.ILogGroup,
      message: string,
      metricName: string,
      value: string,
      unit: cloudwatch.Unit,
    ) =>
      new logs.MetricFilter(this, id, {
        logGroup,
        filterPattern: logs.FilterPattern.stringValue('$.message', '=', message),
        metricNamespace: METRIC_NAMESPACE,
        metricName,
        metricValue: value,
        unit,
      }).metric({ period });
    const logMetrics = props.metricLogs
      ? [
          fromLogs(
            'ReplyLatency',
            props.metricLogs.replies,
            'reply recorded',
            'ReplyLatency',
            '$.latency_ms',
            cloudwatch.Unit.MILLISECONDS,
          ),
          fromLogs(
            'HostMaintenanceDuration',
            props.metricLogs.workflow,
            'host maintained',
            'HostMaintenanceDuration',
            '$.duration_ms',
            cloudwatch.Unit.MILLISECONDS,
          ),
          fromLogs(
            'FailedRounds',
            props.metricLogs.workflow,
            'round failed',
            'FailedRounds',
            '1',
            cloudwatch.Unit.COUNT,
          ),
        ]
      : [];
    const [replyLatency, hostDuration, failedRounds] = logMetrics;
    const nameOf = (fn: lambda.IFunction) => {
      const parts = fn.node.path.split('/');
      return (parts.at(-1) === 'Resource' ? parts.at(-2) : parts.at(-1)) ?? fn.node.id;
    };
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${stack.stackName}-Fenix`,
      defaultInterval: Duration.days(1),
      widgets: [
        [
          new cloudwatch.TextWidget({
            markdown:
              '# Fenix host maintenance\nSessions by state come from `maintenance.session` events; a failed session is an execution ending in `MaintenanceFailed`.',
            width: 24,
            height: 2,
          }),
        ],
        [
          new cloudwatch.AlarmStatusWidget({
            title: 'Alarms',
            alarms: [this.sessionsFailedAlarm, this.apiServerErrorsAlarm],
            width: 24,
            height: 3,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Sessions entering each state',
            left: SESSION_STATES.map(entered),
            width: 12,
            stacked: true,
          }),
          new cloudwatch.GraphWidget({
            title: 'Workflow executions',
            left: [
              ...executions(props.sessionWorkflow, 'session'),
              ...(props.hostWorkflow ? executions(props.hostWorkflow, 'host') : []),
            ],
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'API requests and errors',
            left: [api.metricCount({ period, label: 'requests' }), api.metricClientError({ period, label: '4xx' })],
            right: [api.metricServerError({ period, label: '5xx' })],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'API latency (ms)',
            left: [
              api.metricLatency({ period, statistic: 'p50', label: 'p50' }),
              api.metricLatency({ period, statistic: 'p99', label: 'p99' }),
              api.metricIntegrationLatency({ period, statistic: 'p99', label: 'integration p99' }),
            ],
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Lambda errors',
            left: props.functions.map((fn) => fn.metricErrors({ period, label: nameOf(fn) })),
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Lambda throttles',
            left: props.functions.map((fn) => fn.metricThrottles({ period, label: nameOf(fn) })),
            width: 12,
          }),
        ],
        ...(replyLatency && hostDuration && failedRounds
          ? [
              [
                new cloudwatch.GraphWidget({
                  title: 'Reply latency (ms)',
                  left: [
                    replyLatency.with({ statistic: 'p50', label: 'p50' }),
                    replyLatency.with({ statistic: 'p99', label: 'p99' }),
                  ],
                  width: 8,
                }),
                new cloudwatch.GraphWidget({
                  title: 'Host maintenance duration (ms)',
                  left: [
                    hostDuration.with({ statistic: 'Average', label: 'average' }),
                    hostDuration.with({ statistic: 'Maximum', label: 'max' }),
                  ],
                  width: 8,
                }),
                new cloudwatch.GraphWidget({
                  title: 'Failed rounds (NACK or silent)',
                  left: [failedRounds.with({ statistic: 'Sum' })],
                  width: 8,
                }),
              ],
            ]
          : []),
        [
          new cloudwatch.GraphWidget({
            title: 'Session events not delivered to the log (dead letters)',
            left: [deadLetters.metricApproximateNumberOfMessagesVisible({ period, label: 'dead letters' })],
            width: 12,
          }),
        ],
      ],
    });
  }
}
