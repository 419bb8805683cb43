import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { authorize, identityFromClaims } from '../../functions/shared/auth.js';
import { MAX_PROJECT_CLIENTS } from '../../infra/constructs/api-auth.js';
import { checkSubscription, type SubscriptionSpec } from '../../infra/constructs/project-subscription.js';
import { DataStack } from '../../infra/stacks/data-stack.js';
import { ServiceStack, type ServiceStackProps } from '../../infra/stacks/service-stack.js';

/**
 * Issue 4, infrastructure: per-project machine clients, the dashboard and alarms, per-project
 * subscriptions, and cdk-nag over all of it. Template assertions only (no counts, no snapshots).
 */

type Resource = { Type: string; Properties: Record<string, any> };
type Statement = {
  Effect: string;
  Principal?: unknown;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
};

const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:fenix-ops';
const VNFM_BUS = 'arn:aws:events:eu-west-1:444455556666:event-bus/vnfm';
const SUBSCRIPTIONS: SubscriptionSpec[] = [
  { project: 'p1' },
  { project: 'p2', consumer: '111122223333' },
  { project: 'p3', eventBusArn: VNFM_BUS },
];

/** Both stacks; bundling is skipped (no esbuild in unit tests). */
function build(
  service: Partial<ServiceStackProps> = {},
  data: { subscriptions?: SubscriptionSpec[]; alarmTopicArn?: string } = {},
) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const dataStack = new DataStack(app, 'FenixData', data);
  const serviceStack = new ServiceStack(app, 'FenixService', {
    table: dataStack.table,
    bus: dataStack.bus,
    ...service,
  });
  return { app, data: dataStack, service: serviceStack };
}

const resources = (template: Template) => template.toJSON().Resources as Record<string, Resource>;
const ofType = (template: Template, type: string) =>
  Object.entries(resources(template)).filter(([, r]) => r.Type === type);
const statements = (policy: Resource): Statement[] => policy.Properties.PolicyDocument.Statement;

describe('per-project machine clients', () => {
  let template: Template;
  /** Logical id of the client allowed exactly `scopes`. */
  const clientWith = (scopes: string[]) =>
    ofType(template, 'AWS::Cognito::UserPoolClient').find(
      ([, r]) => JSON.stringify(r.Properties.AllowedOAuthScopes) === JSON.stringify(scopes),
    )?.[0];

  beforeAll(() => {
    template = Template.fromStack(build({ projects: ['p1', 'vnf-b.2'] }).service);
  });

  it('adds a fenix/project.<id> scope per project to the resource server', () => {
    template.hasResourceProperties('AWS::Cognito::UserPoolResourceServer', {
      Identifier: 'fenix',
      Scopes: Match.arrayWith([
        Match.objectLike({ ScopeName: 'admin' }),
        Match.objectLike({ ScopeName: 'project' }),
        Match.objectLike({ ScopeName: 'project.p1' }),
        Match.objectLike({ ScopeName: 'project.vnf-b.2' }),
      ]),
    });
  });

  it.each([
    ['p1', 'p1'],
    ['vnf-b.2', 'vnfb2'],
  ])(
    'gives project %s a client-credentials client with fenix/project and its own scope, an output and a place in the audience',
    (project, outputSuffix) => {
      const scopes = ['fenix/project', `fenix/project.${project}`];
      template.hasResourceProperties('AWS::Cognito::UserPoolClient', {
        AllowedOAuthFlows: ['client_credentials'],
        AllowedOAuthFlowsUserPoolClient: true,
        AllowedOAuthScopes: scopes,
        GenerateSecret: true,
      });
      const client = clientWith(scopes);
      expect(client).toBeDefined();
      template.hasOutput(`ProjectClientId${outputSuffix}`, { Value: { Ref: client } });
      template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
        JwtConfiguration: { Audience: Match.arrayWith([{ Ref: client }]) },
      });
      // The handlers are told the same audience.
      const audiences = ofType(template, 'AWS::Lambda::Function')
        .map(([, fn]) => fn.Properties.Environment?.Variables?.AUTH_AUDIENCE)
        .filter(Boolean);
      expect(audiences.length).toBeGreaterThan(0);
      for (const audience of audiences) expect(JSON.stringify(audience)).toContain(`"Ref":"${client}"`);
    },
  );

  it('keeps the admin client to the admin scope, and project clients off it', () => {
    expect(clientWith(['fenix/admin'])).toBeDefined();
    for (const [, r] of ofType(template, 'AWS::Cognito::UserPoolClient')) {
      const scopes: string[] = r.Properties.AllowedOAuthScopes;
      if (scopes.includes('fenix/admin')) expect(scopes).toEqual(['fenix/admin']);
      else expect(scopes.filter((s) => s.startsWith('fenix/project.'))).toHaveLength(1);
    }
  });

  it('creates no project client without projects', () => {
    const bare = Template.fromStack(build().service);
    const projectClients = ofType(bare, 'AWS::Cognito::UserPoolClient').filter(([, r]) =>
      (r.Properties.AllowedOAuthScopes as string[]).some((s) => s.startsWith('fenix/project')),
    );
    expect(projectClients).toEqual([]);
    expect(Object.keys(bare.toJSON().Outputs).filter((o) => o.startsWith('ProjectClientId'))).toEqual([]);
  });

  it("identifies a project client's token as that project to the handlers", () => {
    // What API Gateway passes on from a Cognito client-credentials token of project p1's client.
    const claims = { client_id: 'abc123', sub: 'abc123', token_use: 'access', scope: 'fenix/project fenix/project.p1' };
    expect(identityFromClaims(claims)).toMatchObject({ admin: false, project: 'p1', subject: 'abc123' });
    const event = (projectId: string) =>
      ({
        pathParameters: { project_id: projectId },
        requestContext: { authorizer: { jwt: { claims, scopes: [] } } },
      }) as unknown as APIGatewayProxyEventV2;
    expect(authorize(event('p1'), 'project', { project_id: 'p1' }).project).toBe('p1');
    expect(() => authorize(event('p2'), 'project', { project_id: 'p2' })).toThrow(/own project/);
    expect(() => authorize(event('p1'), 'admin', { project_id: 'p1' })).toThrow(/fenix\/admin/);
  });

  it.each([
    ['an id with a slash', ['a/b'], /not a project id/],
    ['an empty id', [''], /not a project id/],
    ['an id over 64 characters', ['x'.repeat(65)], /not a project id/],
    ['a repeated id', ['p1', 'p1'], /listed twice/],
    ['ids whose outputs collide', ['a.b', 'ab'], /share the output/],
    [
      'more projects than Cognito has scopes',
      Array.from({ length: MAX_PROJECT_CLIENTS + 1 }, (_, i) => `p${i}`),
      /at most 98/,
    ],
  ])('refuses %s at synth', (_, projects, message) => {
    expect(() => build({ projects })).toThrow(message);
  });

  it('refuses projects with an external OIDC issuer (its clients are made there)', () => {
    expect(() =>
      build({ projects: ['p1'], oidc: { issuerUrl: 'https://id.example.com', audience: ['fenix'] } }),
    ).toThrow(/external OIDC issuer/);
  });
});

describe('observability', () => {
  let template: Template;
  let sessionMachine: string;
  beforeAll(() => {
    template = Template.fromStack(build({ alarmTopicArn: TOPIC }).service);
    sessionMachine =
      ofType(template, 'AWS::StepFunctions::StateMachine').find(([id]) => id.startsWith('SessionWorkflow'))?.[0] ?? '';
    expect(sessionMachine).not.toBe('');
  });

  it('alarms on a failed session: ExecutionsFailed of the session state machine > 0, notifying the topic', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/States',
      MetricName: 'ExecutionsFailed',
      Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: sessionMachine } }],
      Statistic: 'Sum',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [TOPIC],
    });
  });

  it('alarms on any API 5xx', () => {
    const api = ofType(template, 'AWS::ApiGatewayV2::Api')[0]?.[0];
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/ApiGateway',
      MetricName: '5xx',
      Dimensions: [{ Name: 'ApiId', Value: { Ref: api } }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it('has alarms without actions when no topic is configured', () => {
    const bare = Template.fromStack(build().service);
    bare.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ExecutionsFailed',
      AlarmActions: Match.absent(),
    });
  });

  it('copies maintenance.session events to a log group, with a dead-letter queue and a retry policy', () => {
    const [, rule] =
      ofType(template, 'AWS::Events::Rule').find(([, r]) =>
        JSON.stringify(r.Properties.EventPattern).includes('maintenance.session'),
      ) ?? [];
    expect(rule?.Properties.EventPattern).toEqual({ source: ['fenix'], 'detail-type': ['maintenance.session'] });
    expect(JSON.stringify(rule?.Properties.EventBusName)).toContain('FenixData:');
    const [target] = rule?.Properties.Targets ?? [];
    expect(JSON.stringify(target.Arn)).toContain(':log-group:');
    expect(target.DeadLetterConfig.Arn['Fn::GetAtt'][1]).toBe('Arn');
    expect(resources(template)[target.DeadLetterConfig.Arn['Fn::GetAtt'][0]]?.Type).toBe('AWS::SQS::Queue');
    expect(target.RetryPolicy).toEqual({
      MaximumRetryAttempts: expect.any(Number),
      MaximumEventAgeInSeconds: expect.any(Number),
    });
  });

  it('lets EventBridge write to that log group only, through a native resource policy (no custom-resource Lambda)', () => {
    const [[, policy] = []] = ofType(template, 'AWS::Logs::ResourcePolicy');
    const document = JSON.stringify(policy?.Properties.PolicyDocument);
    expect(document).toContain('events.amazonaws.com');
    expect(document).toContain('logs:PutLogEvents');
    expect(document).not.toMatch(/\\"Resource\\":\\"\*\\"/);
    expect(ofType(template, 'Custom::CloudwatchLogResourcePolicy')).toEqual([]);
  });

  it('turns each event into Fenix/SessionStateEntered with the state as a dimension', () => {
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      MetricTransformations: [
        Match.objectLike({
          MetricNamespace: 'Fenix',
          MetricName: 'SessionStateEntered',
          MetricValue: '1',
          Dimensions: [{ Key: 'State', Value: '$.detail.state' }],
        }),
      ],
    });
  });

  it('puts sessions by state, executions, API errors and latency, and Lambda errors on one dashboard', () => {
    const [[, dashboard] = []] = ofType(template, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    for (const needle of [
      'SessionStateEntered',
      'MAINTENANCE_DONE',
      'MAINTENANCE_FAILED',
      'ExecutionsFailed',
      'ExecutionsSucceeded',
      '5xx',
      '4xx',
      'Latency',
      'Errors',
      'Throttles',
    ]) {
      expect(body, needle).toContain(needle);
    }
    expect(body).toContain(`"Ref":"${sessionMachine}"`);
    // Every function of the stack is graphed.
    for (const [id] of ofType(template, 'AWS::Lambda::Function')) expect(body, id).toContain(`"Ref":"${id}"`);
  });
});

describe('per-project subscriptions', () => {
  let template: Template;
  const ruleFor = (project: string) =>
    ofType(template, 'AWS::Events::Rule').find(
      ([, r]) => JSON.stringify(r.Properties.EventPattern?.detail) === JSON.stringify({ project_id: [project] }),
    );
  const logicalId = (ref: any): string => ref?.Ref ?? ref?.['Fn::GetAtt']?.[0];

  beforeAll(() => {
    template = Template.fromStack(build({}, { subscriptions: SUBSCRIPTIONS, alarmTopicArn: TOPIC }).data);
  });

  it('creates none on a bare deploy', () => {
    const bare = Template.fromStack(build().data);
    expect(ofType(bare, 'AWS::Events::Rule')).toEqual([]);
    expect(ofType(bare, 'AWS::SQS::Queue')).toEqual([]);
  });

  it.each(SUBSCRIPTIONS.map((s) => s.project))(
    "matches only project %s's maintenance.scheduled events on the Fenix bus",
    (project) => {
      const [, rule] = ruleFor(project) ?? [];
      expect(rule?.Properties.EventPattern).toEqual({
        source: ['fenix'],
        'detail-type': ['maintenance.scheduled'],
        detail: { project_id: [project] },
      });
      expect(rule?.Properties.EventBusName).toEqual({ Ref: ofType(template, 'AWS::Events::EventBus')[0]?.[0] });
      const [target] = rule?.Properties.Targets ?? [];
      expect(resources(template)[logicalId(target.DeadLetterConfig.Arn)]?.Type).toBe('AWS::SQS::Queue');
    },
  );

  it('delivers to an encrypted, TLS-only queue with a retry policy, redriving to the dead-letter queue', () => {
    const [ruleId, rule] = ruleFor('p1') ?? [];
    const [target] = rule?.Properties.Targets ?? [];
    expect(target.RetryPolicy).toEqual({ MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 });
    const queueId = logicalId(target.Arn);
    const deadLettersId = logicalId(target.DeadLetterConfig.Arn);
    const queue = resources(template)[queueId];
    expect(queue?.Type).toBe('AWS::SQS::Queue');
    expect(queue?.Properties).toMatchObject({
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [deadLettersId, 'Arn'] }, maxReceiveCount: 5 },
    });
    // Only this rule may send to the queue; everything else must use TLS.
    const [, policy] =
      ofType(template, 'AWS::SQS::QueuePolicy').find(
        ([, p]) => JSON.stringify(p.Properties.Queues) === JSON.stringify([{ Ref: queueId }]),
      ) ?? [];
    const send = statements(policy as Resource).find(
      (s) => s.Effect === 'Allow' && JSON.stringify(s.Action).includes('sqs:SendMessage'),
    );
    expect(send).toMatchObject({
      Principal: { Service: 'events.amazonaws.com' },
      Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ruleId, 'Arn'] } } },
    });
    expect(statements(policy as Resource)).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
    template.hasOutput('Subscriptionp1QueueUrl', { Value: { Ref: queueId } });
    template.hasOutput('Subscriptionp1DeadLettersUrl', { Value: { Ref: deadLettersId } });
  });

  it("lets a consumer account read its project's queue", () => {
    const [, rule] = ruleFor('p2') ?? [];
    const queueId = logicalId(rule?.Properties.Targets[0].Arn);
    const [, policy] =
      ofType(template, 'AWS::SQS::QueuePolicy').find(
        ([, p]) => JSON.stringify(p.Properties.Queues) === JSON.stringify([{ Ref: queueId }]),
      ) ?? [];
    const read = statements(policy as Resource).find((s) => JSON.stringify(s.Action).includes('sqs:ReceiveMessage'));
    expect(JSON.stringify(read?.Principal)).toContain(':iam::111122223333:root');
    expect(read?.Action).toEqual(expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage']));
    expect(read?.Resource).toEqual({ 'Fn::GetAtt': [queueId, 'Arn'] });
  });

  it("delivers to another account's bus through a role allowed PutEvents on that bus only", () => {
    const [, rule] = ruleFor('p3') ?? [];
    const [target] = rule?.Properties.Targets ?? [];
    expect(target.Arn).toBe(VNFM_BUS);
    const roleId = logicalId(target.RoleArn);
    const [, policy] =
      ofType(template, 'AWS::IAM::Policy').find(
        ([, p]) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]),
      ) ?? [];
    expect(statements(policy as Resource)).toEqual([
      expect.objectContaining({ Effect: 'Allow', Action: 'events:PutEvents', Resource: VNFM_BUS }),
    ]);
  });

  it('alarms on dead letters of every subscription', () => {
    for (const project of SUBSCRIPTIONS.map((s) => s.project)) {
      const [, rule] = ruleFor(project) ?? [];
      const deadLettersId = logicalId(rule?.Properties.Targets[0].DeadLetterConfig.Arn);
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [deadLettersId, 'QueueName'] } }],
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        AlarmActions: [TOPIC],
      });
    }
  });

  it('admits no wildcard principal to anything but TLS denials', () => {
    for (const [id, policy] of [
      ...ofType(template, 'AWS::SQS::QueuePolicy'),
      ...ofType(template, 'AWS::Events::EventBusPolicy'),
    ]) {
      for (const s of statements(policy)) {
        if (s.Effect === 'Allow') expect(JSON.stringify(s.Principal), id).not.toMatch(/^"\*"$|"AWS":"\*"/);
      }
    }
  });

  it.each([
    ['not an object', 'p1', /must be an object/],
    ['no project', {}, /project must be a project id/],
    ['a bad project id', { project: '../p1' }, /project must be a project id/],
    ['an unknown field', { project: 'p1', queue: 'x' }, /unknown field queue/],
    ['a bad bus ARN', { project: 'p1', eventBusArn: 'arn:aws:sqs:eu-west-1:123456789012:q' }, /event bus ARN/],
    ['a bad consumer', { project: 'p1', consumer: '*' }, /account id or an IAM role/],
    ['a consumer with a bus', { project: 'p1', consumer: '111122223333', eventBusArn: VNFM_BUS }, /no queue/],
    ['a retry policy on a bus target', { project: 'p1', eventBusArn: VNFM_BUS, retryAttempts: 3 }, /no retry policy/],
    ['too many retries', { project: 'p1', retryAttempts: 500 }, /0 to 185/],
  ])('refuses a context entry with %s', (_, spec, message) => {
    expect(() => checkSubscription(spec, 0)).toThrow(message);
  });

  it('refuses two subscriptions for one project, or projects whose outputs collide', () => {
    expect(() => build({}, { subscriptions: [{ project: 'p1' }, { project: 'p1' }] })).toThrow(/listed twice/);
    expect(() => build({}, { subscriptions: [{ project: 'a.b' }, { project: 'ab' }] })).toThrow(/share the outputs/);
  });
});

describe('cdk-nag AwsSolutions with everything configured', () => {
  it('reports no unacknowledged finding (projects, subscriptions, alarm topic, plug-ins)', () => {
    const { app } = build(
      {
        projects: ['p1', 'p2'],
        alarmTopicArn: TOPIC,
        plugins: { drain: 'arn:aws:lambda:eu-west-1:123456789012:function:drain-host' },
      },
      { subscriptions: SUBSCRIPTIONS, alarmTopicArn: TOPIC },
    );
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).not.toThrow();
  });
});
