import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { TRAILING_SLASH_HANDLER } from '../../infra/constructs/api.js';
import { findPlaceholders, Workflow } from '../../infra/constructs/workflow.js';
import { repoPath } from '../../infra/paths.js';
import type { ServiceStackProps } from '../../infra/stacks/service-stack.js';
import { build, type Resource } from './template.js';

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

const PLUGIN_ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:drain-host';
const HAS_HOST_WORKFLOW = existsSync(repoPath('statemachines/host.asl.json'));

/** The API contract (DESIGN.md section 3): route key -> handler wiring. */
const ROUTES = {
  'POST /v1/maintenance': { writes: true, stateMachine: true, project: false },
  'GET /v1/maintenance': { writes: false, stateMachine: false, project: false },
  'GET /v1/maintenance/{session_id}': { writes: false, stateMachine: false, project: false },
  'PUT /v1/maintenance/{session_id}': { writes: true, stateMachine: true, project: false },
  'POST /v1/maintenance/{session_id}': { writes: true, stateMachine: true, project: false },
  'DELETE /v1/maintenance/{session_id}': { writes: true, stateMachine: true, project: false },
  'GET /v1/maintenance/{session_id}/detail': { writes: false, stateMachine: false, project: false },
  'GET /v1/maintenance/{session_id}/{project_id}': { writes: false, stateMachine: false, project: true },
  'PUT /v1/maintenance/{session_id}/{project_id}': { writes: true, stateMachine: true, project: true },
} as const;
type RouteKey = keyof typeof ROUTES;

const WRITE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];

/** Read helpers over one synthesized service template. */
function inspect(template: Template) {
  const resources = template.toJSON().Resources as Record<string, Resource>;
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

  const route = (key: string) => {
    const found = ofType('AWS::ApiGatewayV2::Route').find(([, r]) => r.Properties.RouteKey === key);
    if (!found) throw new Error(`no route ${key}`);
    return found[1];
  };
  /** Logical id of the Lambda function a route invokes. */
  const functionOf = (key: string): string => {
    const integrationId = route(key).Properties.Target['Fn::Join'][1][1].Ref as string;
    const integration = resources[integrationId];
    return integration?.Properties.IntegrationUri['Fn::GetAtt'][0];
  };
  // Construct IDs are part of the contract, so their logical-id prefix is stable.
  const sessionMachine = ofType('AWS::StepFunctions::StateMachine').find(([id]) => id.startsWith('SessionWorkflow'));
  const sessionMachineName: string = sessionMachine?.[1].Properties.StateMachineName;
  /** The session state machine ARN as the stack writes it (from its name). */
  const sessionMachineArn = stateArn('stateMachine', sessionMachineName);
  const workflowFunctionId = (): string =>
    sessionMachine?.[1].Properties.DefinitionSubstitutions.WorkflowFunctionArn['Fn::GetAtt'][0];
  const env = (functionId: string): Record<string, unknown> =>
    resources[functionId]?.Properties.Environment?.Variables ?? {};
  const roleOf = (id: string): string => resources[id]?.Properties.Role['Fn::GetAtt'][0];
  /** Every statement of every policy attached to a role. */
  const statementsOf = (roleId: string): Statement[] =>
    ofType('AWS::IAM::Policy')
      .filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Statement[]);
  const actions = (statements: Statement[]) =>
    statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));

  return {
    resources,
    ofType,
    route,
    functionOf,
    sessionMachineId: sessionMachine?.[0] ?? '',
    sessionMachineName,
    sessionMachineArn,
    workflowFunctionId,
    env,
    roleOf,
    statementsOf,
    actions,
  };
}

/** `arn:${Partition}:states:${Region}:${AccountId}:<resource>:<name>` as CDK renders it. */
const stateArn = (resource: string, name: string) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':states:',
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      `:${resource}:${name}`,
    ],
  ],
});

/** Runs the inline trailing-slash function on an HTTP API v2 event. */
function runTrailingSlash(rawPath: string, rawQueryString = '') {
  const module = { exports: {} as { handler: (e: unknown) => Promise<any> } };
  new Function('exports', 'module', TRAILING_SLASH_HANDLER)(module.exports, module);
  return module.exports.handler({ rawPath, rawQueryString });
}

/** Does a concrete path match an HTTP API route path (`{x}` = one segment)? */
const matchesRoute = (routeKey: string, method: string, requestPath: string) => {
  const [routeMethod, routePath = ''] = routeKey.split(' ');
  const pattern = new RegExp(`^${routePath.replace(/\{[^}]+\}/g, '[^/]+')}$`);
  return routeMethod === method && pattern.test(requestPath);
};

describe('service stack', () => {
  let service: Template;
  let t: ReturnType<typeof inspect>;
  let apiId: string;
  let authorizerId: string;

  beforeAll(() => {
    const built = build();
    service = Template.fromStack(built.service);
    t = inspect(service);
    apiId = t.ofType('AWS::ApiGatewayV2::Api')[0]?.[0] ?? '';
    authorizerId = t.ofType('AWS::ApiGatewayV2::Authorizer')[0]?.[0] ?? '';
  });

  describe('routes', () => {
    it.each(Object.keys(ROUTES))('%s exists behind the JWT authorizer', (key) => {
      const { project } = ROUTES[key as RouteKey];
      service.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: key,
        AuthorizationType: 'JWT',
        AuthorizerId: { Ref: authorizerId },
        AuthorizationScopes: project ? ['fenix/admin', 'fenix/project'] : ['fenix/admin'],
      });
    });

    it('gives every route its own function', () => {
      const functions = Object.keys(ROUTES).map(t.functionOf);
      expect(new Set(functions).size).toBe(functions.length);
    });

    it('puts the JWT authorizer on every route, the fallback included', () => {
      for (const [, r] of t.ofType('AWS::ApiGatewayV2::Route')) {
        expect(r.Properties.AuthorizationType, r.Properties.RouteKey).toBe('JWT');
        expect(r.Properties.AuthorizerId).toEqual({ Ref: authorizerId });
      }
      service.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'ANY /{proxy+}' });
    });

    // HTTP API route keys cannot end with "/", so the trailing-slash forms are
    // served through the ANY /{proxy+} fallback, which redirects to the route.
    it.each(Object.keys(ROUTES))('%s/ (trailing slash) is redirected to the route', async (key) => {
      const [method = '', routePath = ''] = key.split(' ');
      const concrete = routePath.replace('{session_id}', 's-1').replace('{project_id}', 'p-1');
      const response = await runTrailingSlash(`${concrete}/`, 'a=1');
      expect(response.statusCode).toBe(308);
      expect(response.headers.location).toBe(`${concrete}?a=1`);
      // The redirect target is a path this route serves.
      expect(Object.keys(ROUTES).filter((k) => matchesRoute(k, method, concrete))).toContain(key);
    });

    it('has no route key ending with a slash (API Gateway rejects them)', () => {
      for (const [, r] of t.ofType('AWS::ApiGatewayV2::Route')) {
        expect(r.Properties.RouteKey).not.toMatch(/.\/$/);
      }
    });

    it('does not redirect to another host and 404s unknown paths', async () => {
      expect((await runTrailingSlash('//evil.example/')).headers.location).toBe('/evil.example');
      const unknown = await runTrailingSlash('/v2/nothing');
      expect(unknown.statusCode).toBe(404);
      expect(JSON.parse(unknown.body)).toEqual({ error: 'not_found', message: expect.any(String) });
    });

    it('throttles the $default stage, logs access, has no CORS', () => {
      service.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: {
          ThrottlingBurstLimit: Match.anyValue(),
          ThrottlingRateLimit: Match.anyValue(),
        },
        AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
      });
      service.hasResourceProperties('AWS::ApiGatewayV2::Api', {
        ProtocolType: 'HTTP',
        CorsConfiguration: Match.absent(),
      });
    });
  });

  describe('auth', () => {
    it('creates a user pool without self sign-up, fenix scopes and an admin machine client', () => {
      service.hasResourceProperties('AWS::Cognito::UserPool', {
        AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      });
      service.hasResourceProperties('AWS::Cognito::UserPoolResourceServer', {
        Identifier: 'fenix',
        Scopes: Match.arrayWith([Match.objectLike({ ScopeName: 'admin' }), Match.objectLike({ ScopeName: 'project' })]),
      });
      service.hasResourceProperties('AWS::Cognito::UserPoolClient', {
        AllowedOAuthFlows: ['client_credentials'],
        AllowedOAuthScopes: ['fenix/admin'],
        GenerateSecret: true,
      });
      const clientId = t.ofType('AWS::Cognito::UserPoolClient')[0]?.[0];
      service.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
        AuthorizerType: 'JWT',
        IdentitySource: ['$request.header.Authorization'],
        JwtConfiguration: { Audience: [{ Ref: clientId }], Issuer: Match.anyValue() },
      });
    });

    it('trusts an existing OIDC issuer instead, when configured', () => {
      const { service: stack } = build({
        oidc: { issuerUrl: 'https://id.example.com/realms/ops', audience: ['fenix-api'] },
      });
      const oidc = Template.fromStack(stack);
      expect(oidc.findResources('AWS::Cognito::UserPool')).toEqual({});
      oidc.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
        JwtConfiguration: { Issuer: 'https://id.example.com/realms/ops', Audience: ['fenix-api'] },
      });
      oidc.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({
            AUTH_MODE: 'jwt',
            AUTH_ISSUER: 'https://id.example.com/realms/ops',
          }),
        },
      });
    });

    it('has the outputs operators need', () => {
      for (const name of [
        'ApiUrl',
        'UserPoolId',
        'AdminClientId',
        'TokenEndpoint',
        'EventBusName',
        'EventBusArn',
        'StateMachineArn',
      ]) {
        service.hasOutput(name, {});
      }
    });
  });

  describe('environment', () => {
    it.each(Object.keys(ROUTES))('%s: handler env', (key) => {
      const env = t.env(t.functionOf(key));
      expect(env).toMatchObject({
        TABLE_NAME: { 'Fn::ImportValue': expect.stringContaining('FenixData:') },
        AUTH_MODE: 'jwt',
        AUTH_ISSUER: expect.anything(),
        AUTH_AUDIENCE: expect.anything(),
        POWERTOOLS_SERVICE_NAME: 'fenix',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      });
      if (ROUTES[key as RouteKey].stateMachine) {
        expect(env.STATE_MACHINE_ARN).toEqual(t.sessionMachineArn);
      } else {
        expect(env).not.toHaveProperty('STATE_MACHINE_ARN');
      }
    });

    it('wires the workflow function', () => {
      expect(t.env(t.workflowFunctionId())).toMatchObject({
        TABLE_NAME: { 'Fn::ImportValue': expect.stringContaining('FenixData:') },
        EVENT_BUS_NAME: { 'Fn::ImportValue': expect.stringContaining('FenixData:') },
        API_BASE_URL: { 'Fn::GetAtt': [apiId, 'ApiEndpoint'] },
        STATE_MACHINE_ARN: t.sessionMachineArn,
        FENIX_PROJECT_MAINTENANCE_REPLY: '20',
        FENIX_PROJECT_SCALE_IN_REPLY: '60',
        // The shipped `dummy` plug-in: a JSON map joined around its function ARN.
        FENIX_PLUGINS: {
          'Fn::Join': [
            '',
            ['{"dummy":"', { 'Fn::GetAtt': [expect.stringMatching(/^DummyPluginFunction/), 'Arn'] }, '"}'],
          ],
        },
        POWERTOOLS_SERVICE_NAME: 'fenix',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      });
    });

    it('takes the reply windows and plug-ins from props', () => {
      const { service: stack } = build({
        projectMaintenanceReply: Duration.seconds(5),
        projectScaleInReply: Duration.minutes(2),
        plugins: { drain: PLUGIN_ARN },
      });
      const custom = inspect(Template.fromStack(stack));
      expect(custom.env(custom.workflowFunctionId())).toMatchObject({
        FENIX_PROJECT_MAINTENANCE_REPLY: '5',
        FENIX_PROJECT_SCALE_IN_REPLY: '120',
        FENIX_PLUGINS: { 'Fn::Join': ['', ['{"dummy":"', expect.anything(), `","drain":"${PLUGIN_ARN}"}`]] },
      });
    });

    it('uses the house function defaults', () => {
      for (const [, fn] of t.ofType('AWS::Lambda::Function')) {
        expect(fn.Properties.Runtime).toBe('nodejs22.x');
        expect(fn.Properties.Architectures).toEqual(['arm64']);
        expect(fn.Properties.LoggingConfig?.LogGroup).toBeDefined();
      }
      for (const key of Object.keys(ROUTES)) {
        expect(t.resources[t.functionOf(key)]?.Properties).toMatchObject({
          MemorySize: 512,
          Timeout: 29,
          TracingConfig: { Mode: 'Active' },
        });
      }
      // The download step streams up to 2 GiB: the workflow function gets Lambda's longest timeout.
      expect(t.resources[t.workflowFunctionId()]?.Properties).toMatchObject({
        MemorySize: 512,
        Timeout: 900,
        TracingConfig: { Mode: 'Active' },
      });
    });
  });

  describe('IAM', () => {
    it.each(Object.keys(ROUTES))('%s: table and Step Functions access match the route', (key) => {
      const { writes, stateMachine } = ROUTES[key as RouteKey];
      const granted = t.actions(t.statementsOf(t.roleOf(t.functionOf(key))));
      expect(granted).toContain('dynamodb:GetItem');
      expect(granted).toContain('dynamodb:Query');
      for (const action of WRITE_ACTIONS) {
        expect(granted.includes(action), action).toBe(writes);
      }
      expect(granted.some((a) => a.startsWith('states:'))).toBe(stateMachine);
      expect(granted.some((a) => a.startsWith('events:'))).toBe(false);
    });

    it('grants index queries by index name, not index/*', () => {
      const json = JSON.stringify(service.toJSON());
      expect(json).toContain('/index/gsi1');
      expect(json).toContain('/index/gsi2');
      expect(json).not.toContain('/index/*');
    });

    it('scopes StopExecution to executions of the session state machine', () => {
      const statements = t.statementsOf(t.roleOf(t.functionOf('DELETE /v1/maintenance/{session_id}')));
      const stop = statements.find((s) => t.actions([s]).includes('states:StopExecution'));
      expect(stop?.Resource).toEqual(stateArn('execution', `${t.sessionMachineName}:*`));
    });

    it('lets the reply handler answer task tokens of the session state machine only', () => {
      const statements = t.statementsOf(t.roleOf(t.functionOf('PUT /v1/maintenance/{session_id}/{project_id}')));
      const sendTask = statements.filter((s) => t.actions([s]).includes('states:SendTaskSuccess'));
      expect(sendTask.map((s) => s.Resource)).toEqual([t.sessionMachineArn]);
      expect(t.actions(statements)).not.toContain('states:StartExecution');
    });

    it('lets the workflow function write the table, put events and answer/start executions', () => {
      const statements = t.statementsOf(t.roleOf(t.workflowFunctionId()));
      const granted = t.actions(statements);
      expect(granted).toEqual(expect.arrayContaining([...WRITE_ACTIONS, 'events:PutEvents']));
      const states = statements.filter((s) => t.actions([s]).some((a) => a.startsWith('states:')));
      expect(t.actions(states).sort()).toEqual([
        'states:SendTaskFailure',
        'states:SendTaskHeartbeat',
        'states:SendTaskSuccess',
        'states:StartExecution',
      ]);
      for (const s of states) expect(s.Resource).toEqual(t.sessionMachineArn);
      const putEvents = statements.find((s) => t.actions([s]).includes('events:PutEvents'));
      expect(putEvents?.Resource).toEqual({ 'Fn::ImportValue': expect.stringContaining('FenixData:') });
    });

    it('lets each state machine invoke the workflow function (and its versions), the host workflow also the dummy plug-in, and nothing else', () => {
      const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
      const dummyId = Object.keys(t.resources).find(
        (id) => id.startsWith('DummyPluginFunction') && t.resources[id]?.Type === 'AWS::Lambda::Function',
      ) as string;
      for (const [id, machine] of t.ofType('AWS::StepFunctions::StateMachine')) {
        const statements = t.statementsOf(machine.Properties.RoleArn['Fn::GetAtt'][0]);
        const invoke = statements.filter((s) => t.actions([s]).some((a) => a.startsWith('lambda:')));
        const allowed = id.startsWith('HostWorkflow') ? [t.workflowFunctionId(), dummyId] : [t.workflowFunctionId()];
        expect(invoke, id).toHaveLength(allowed.length);
        expect(new Set(t.actions(invoke))).toEqual(new Set(['lambda:InvokeFunction']));
        expect(invoke.map((statement) => statement.Resource)).toEqual(
          allowed.map((fn) => [arnOf(fn), { 'Fn::Join': ['', [arnOf(fn), ':*']] }]),
        );
      }
    });

    it('adds configured plug-in ARNs to the workflow that runs plug-ins', () => {
      const { service: stack } = build({ plugins: { drain: PLUGIN_ARN } });
      const custom = inspect(Template.fromStack(stack));
      const invokeResources = custom
        .ofType('AWS::StepFunctions::StateMachine')
        .map(([, m]) =>
          JSON.stringify(
            custom
              .statementsOf(m.Properties.RoleArn['Fn::GetAtt'][0])
              .filter((s) => custom.actions([s]).includes('lambda:InvokeFunction')),
          ),
        );
      const withPlugin = invokeResources.filter(
        (r) => r.includes(`"${PLUGIN_ARN}"`) && r.includes(`"${PLUGIN_ARN}:*"`),
      );
      expect(withPlugin).toHaveLength(1);
    });

    it('never grants resource "*" except for actions that have no resource scope', () => {
      const unscopable =
        /^(xray:|logs:(Create|Get|Update|Delete|List)LogDelivery|logs:ListLogDeliveries|logs:PutResourcePolicy|logs:DescribeResourcePolicies|logs:DescribeLogGroups)/;
      for (const [id, policy] of t.ofType('AWS::IAM::Policy')) {
        for (const s of policy.Properties.PolicyDocument.Statement as Statement[]) {
          const resources = Array.isArray(s.Resource) ? s.Resource : [s.Resource];
          if (resources.includes('*')) {
            for (const action of t.actions([s])) expect(action, id).toMatch(unscopable);
          }
        }
      }
    });
  });

  describe('state machines', () => {
    it('runs the session workflow as a STANDARD state machine with inline ASL and substitutions', () => {
      const session = t.resources[t.sessionMachineId]?.Properties;
      expect(session?.StateMachineType).toBe('STANDARD');
      expect(session?.DefinitionString).toBeDefined();
      expect(session?.DefinitionS3Location).toBeUndefined();
      const expected: Record<string, unknown> = {
        WorkflowFunctionArn: { 'Fn::GetAtt': [t.workflowFunctionId(), 'Arn'] },
      };
      if (HAS_HOST_WORKFLOW) {
        const [, host] =
          t.ofType('AWS::StepFunctions::StateMachine').find(([id]) => id.startsWith('HostWorkflow')) ?? [];
        expected.HostStateMachineArn = stateArn('stateMachine', host?.Properties.StateMachineName);
      }
      expect(session?.DefinitionSubstitutions).toEqual(expected);
    });

    it('logs ALL events without execution data and traces with X-Ray', () => {
      for (const [, machine] of t.ofType('AWS::StepFunctions::StateMachine')) {
        expect(machine.Properties).toMatchObject({
          StateMachineType: 'STANDARD',
          TracingConfiguration: { Enabled: true },
          LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false },
        });
      }
    });

    it('has no dependency cycle', () => {
      // Template.fromStack rejects a template whose resources form a cycle
      // ("Template is undeployable"); the workflow Lambda <-> state machine
      // <-> API wiring is the place where one would appear.
      expect(() => Template.fromStack(build({ plugins: { drain: PLUGIN_ARN } }).service)).not.toThrow();
    });
  });
});

describe('Workflow construct', () => {
  const aslFile = (body: object) => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'asl-')), 'test.asl.json');
    writeFileSync(file, JSON.stringify(body));
    return file;
  };
  const asl = {
    StartAt: 'A',
    States: {
      A: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        Parameters: { FunctionName: '${WorkflowFunctionArn}', Payload: { bus: '${BusName}' } },
        End: true,
      },
    },
  };
  const make = (substitutions: Record<string, string>, file = aslFile(asl)) => {
    const stack = new Stack(new App(), 'Test');
    const fn = new lambda.Function(stack, 'Fn', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => ({})'),
    });
    return new Workflow(stack, 'Workflow', { definitionFile: file, substitutions, functions: [fn] });
  };

  it('finds every distinct placeholder', () => {
    expect(findPlaceholders(JSON.stringify(asl))).toEqual(['BusName', 'WorkflowFunctionArn']);
  });

  it('fails synth when a placeholder has no substitution', () => {
    expect(() => make({ WorkflowFunctionArn: 'arn' })).toThrow(/no substitution.*\$\{BusName\}/);
  });

  it('fails synth when a substitution is not used by the ASL', () => {
    expect(() => make({ WorkflowFunctionArn: 'a', BusName: 'b', Extra: 'c' })).toThrow(/not used.*Extra/);
  });

  it('accepts an exact match', () => {
    expect(() => make({ WorkflowFunctionArn: 'a', BusName: 'b' })).not.toThrow();
  });

  it('covers every placeholder of the real ASL files (same check as synth)', () => {
    expect(() => build()).not.toThrow();
  });
});

describe('data stack', () => {
  let data: Template;
  beforeAll(() => {
    data = Template.fromStack(build().data);
  });

  it('keeps one table with PITR, deletion protection, TTL and two ALL-projected GSIs', () => {
    data.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
        GlobalSecondaryIndexes: ['gsi1', 'gsi2'].map((name) => ({
          IndexName: name,
          KeySchema: [
            { AttributeName: `${name}pk`, KeyType: 'HASH' },
            { AttributeName: `${name}sk`, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        })),
        Replicas: [
          Match.objectLike({
            DeletionProtectionEnabled: true,
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          }),
        ],
      }),
    });
  });

  it('has a custom bus whose policy (if any) admits no wildcard principal', () => {
    data.hasResourceProperties('AWS::Events::EventBus', {});
    const json = data.toJSON().Resources as Record<string, Resource>;
    for (const r of Object.values(json)) {
      if (r.Type === 'AWS::Events::EventBusPolicy' || r.Type === 'AWS::Events::EventBus') {
        const policy = JSON.stringify(r.Properties.Statement ?? r.Properties.Policy ?? {});
        expect(policy).not.toMatch(/"Principal":("\*"|\{"AWS":"\*"\})/);
      }
    }
  });
});

describe('cdk-nag AwsSolutions', () => {
  const synthWithNag = (props: Partial<ServiceStackProps> = {}) => {
    const { app } = build(props);
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    return () => app.synth();
  };

  it('reports no unacknowledged finding (default: Cognito, no plug-ins)', () => {
    expect(synthWithNag()).not.toThrow();
  });

  it('reports no unacknowledged finding with plug-ins and an external OIDC issuer', () => {
    expect(
      synthWithNag({
        plugins: { drain: PLUGIN_ARN },
        oidc: { issuerUrl: 'https://id.example.com', audience: ['fenix'] },
      }),
    ).not.toThrow();
  });
});
