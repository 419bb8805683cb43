import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, it } from 'vitest';
import { DataStack } from '../../infra/stacks/data-stack.js';
import { ServiceStack } from '../../infra/stacks/service-stack.js';

describe('operational metrics', () => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const data = new DataStack(app, 'FenixData');
  const template = Template.fromStack(new ServiceStack(app, 'FenixService', { table: data.table, bus: data.bus }));

  it.each([
    ['ReplyLatency', 'reply recorded', '$.latency_ms', 'PutProjectReplyFunction'],
    ['HostMaintenanceDuration', 'host maintained', '$.duration_ms', 'WorkflowFunction'],
    ['FailedRounds', 'round failed', '1', 'WorkflowFunction'],
  ])('turns log lines into %s', (metric, message, value, fn) => {
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      FilterPattern: `{ $.message = "${message}" }`,
      LogGroupName: { Ref: Match.stringLikeRegexp(`^${fn}LogGroup`) },
      MetricTransformations: [Match.objectLike({ MetricName: metric, MetricNamespace: 'Fenix', MetricValue: value })],
    });
  });
});
