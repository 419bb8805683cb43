import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { groupConstraintKey, instanceConstraintKey } from '../../functions/adapters/dynamo/keys.js';
import { INSTANCE_PK } from '../../functions/adapters/sim-cloud.js';
import { build, ofType, type Resource, resources } from './template.js';

/**
 * The instance-constraint routes (DESIGN §12) in the synthesized stack: each its own function behind
 * the JWT authorizer for admin and project tokens, reaching only the items it needs — GetItem (and
 * its one write) on the constraint partitions, by `dynamodb:LeadingKeys`, no Query, no index, no
 * Step Functions, no events — and the patterns match the keys the adapters really write.
 */

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: Record<string, any> };

const INSTANCE = '/v1/instance/{instance_id}';
const GROUP = '/v1/instance_group/{group_id}';
/** Route key → the DynamoDB actions and partitions its function gets. */
const ROUTES: Record<string, { actions: string[]; partitions: string[] }> = {
  [`PUT ${INSTANCE}`]: {
    actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
    partitions: ['CONSTRAINT#INSTANCE#*', 'SIM#INSTANCE'],
  },
  [`GET ${INSTANCE}`]: { actions: ['dynamodb:GetItem'], partitions: ['CONSTRAINT#INSTANCE#*'] },
  [`DELETE ${INSTANCE}`]: {
    actions: ['dynamodb:GetItem', 'dynamodb:DeleteItem'],
    partitions: ['CONSTRAINT#INSTANCE#*'],
  },
  [`PUT ${GROUP}`]: { actions: ['dynamodb:GetItem', 'dynamodb:PutItem'], partitions: ['CONSTRAINT#GROUP#*'] },
  [`GET ${GROUP}`]: { actions: ['dynamodb:GetItem'], partitions: ['CONSTRAINT#GROUP#*'] },
  [`DELETE ${GROUP}`]: { actions: ['dynamodb:GetItem', 'dynamodb:DeleteItem'], partitions: ['CONSTRAINT#GROUP#*'] },
};

const actionsOf = (statement: Statement) => (Array.isArray(statement.Action) ? statement.Action : [statement.Action]);
/** An IAM StringLike pattern as a regular expression. */
const like = (pattern: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );

const inspect = (template: Template) => {
  const all = resources(template);
  const functionOf = (key: string): string => {
    const route = ofType(template, 'AWS::ApiGatewayV2::Route').find(([, r]) => r.Properties.RouteKey === key)?.[1];
    if (!route) throw new Error(`no route ${key}`);
    const integration = all[route.Properties.Target['Fn::Join'][1][1].Ref as string] as Resource;
    return integration.Properties.IntegrationUri['Fn::GetAtt'][0];
  };
  const statementsOf = (functionId: string): Statement[] => {
    const role = (all[functionId] as Resource).Properties.Role['Fn::GetAtt'][0];
    return ofType(template, 'AWS::IAM::Policy')
      .filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === role))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Statement[]);
  };
  return { all, functionOf, statementsOf };
};

describe('instance-constraint routes', () => {
  let template: Template;
  let t: ReturnType<typeof inspect>;
  beforeAll(() => {
    template = Template.fromStack(build().service);
    t = inspect(template);
  });

  it.each(Object.keys(ROUTES))('%s: its own function behind the JWT authorizer, admin or project', (key) => {
    const route = ofType(template, 'AWS::ApiGatewayV2::Route').find(([, r]) => r.Properties.RouteKey === key)?.[1];
    expect(route?.Properties.AuthorizationType).toBe('JWT');
    expect([...(route?.Properties.AuthorizationScopes ?? [])].sort()).toEqual(['fenix/admin', 'fenix/project']);
    const functions = Object.keys(ROUTES).map(t.functionOf);
    expect(new Set(functions).size).toBe(functions.length);
    expect((t.all[t.functionOf(key)] as Resource).Properties.Environment.Variables).toMatchObject({
      TABLE_NAME: { 'Fn::ImportValue': expect.stringContaining('FenixData:') },
    });
  });

  it.each(Object.keys(ROUTES))('%s: only its items, by partition key', (key) => {
    const expected = ROUTES[key] as (typeof ROUTES)[string];
    const statements = t.statementsOf(t.functionOf(key));
    const table = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
    expect(table).toHaveLength(1);
    const [statement] = table as [Statement];
    expect(actionsOf(statement).sort()).toEqual([...expected.actions].sort());
    expect(statement.Resource).toEqual({ 'Fn::ImportValue': expect.stringContaining('FenixData:') });
    expect(statement.Condition).toEqual({
      'ForAllValues:StringLike': {
        'dynamodb:LeadingKeys': expected.partitions,
      },
    });
    const granted = statements.flatMap(actionsOf);
    expect(granted.some((a) => a.startsWith('states:') || a.startsWith('events:') || a.startsWith('s3:'))).toBe(false);
  });

  it('names the partitions the adapters write', () => {
    const [instancePattern = '', groupPattern = ''] = [ROUTES[`GET ${INSTANCE}`], ROUTES[`GET ${GROUP}`]].map(
      (route) => route?.partitions[0] ?? '',
    );
    expect(instanceConstraintKey('9f1c-ha-0').pk).toMatch(like(instancePattern));
    expect(groupConstraintKey('9f1c-group').pk).toMatch(like(groupPattern));
    expect(groupConstraintKey('9f1c-group').pk).not.toMatch(like(instancePattern));
    expect(instanceConstraintKey('9f1c-ha-0').pk).not.toMatch(like(groupPattern));
    expect(ROUTES[`PUT ${INSTANCE}`]?.partitions).toContain(INSTANCE_PK);
  });

  it('on OpenStack, reads no simulator items and asks Nova instead', () => {
    const openstack = Template.fromStack(
      build({
        cloud: { driver: 'openstack', secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:os-AbC123' },
      }).service,
    );
    const o = inspect(openstack);
    const put = o.functionOf(`PUT ${INSTANCE}`);
    const statements = o.statementsOf(put);
    const table = statements.find((s) => actionsOf(s).includes('dynamodb:PutItem'));
    expect(table?.Condition?.['ForAllValues:StringLike']['dynamodb:LeadingKeys']).toEqual(['CONSTRAINT#INSTANCE#*']);
    expect(statements.flatMap(actionsOf)).toContain('secretsmanager:GetSecretValue');
    expect((o.all[put] as Resource).Properties.Environment.Variables.FENIX_CLOUD).toBe('openstack');
  });
});
