import { Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { type KeystoneIdentity, keystoneFromContext } from '../../infra/constructs/api-auth.js';
import type { ServiceStackProps } from '../../infra/stacks/service-stack.js';
import { build, ofType, resources } from './template.js';

/**
 * `auth: "keystone"` (DESIGN §13): a Lambda REQUEST authorizer over X-Auth-Token instead of the
 * JWT authorizer and its user pool. Template assertions only, as in stacks.test.ts.
 */

const KEYSTONE_URL = 'https://keystone.example.com:5000/v3';
const VPC = { subnetIds: ['subnet-0123456789abcdef0'], securityGroupIds: ['sg-0123456789abcdef0'] };

describe('keystone auth', () => {
  let template: Template;
  /** The authorizer's function: what its AuthorizerUri names. */
  let authorizerFunction: string;
  beforeAll(() => {
    template = Template.fromStack(build({ keystone: { url: KEYSTONE_URL } }).service);
    const [, authorizer] = ofType(template, 'AWS::ApiGatewayV2::Authorizer')[0] ?? [];
    authorizerFunction =
      JSON.stringify(authorizer?.Properties.AuthorizerUri).match(/"Fn::GetAtt":\["([^"]+)"/)?.[1] ?? '';
  });

  it('has one Lambda REQUEST authorizer on X-Auth-Token, simple responses, cached 300 s', () => {
    const authorizers = ofType(template, 'AWS::ApiGatewayV2::Authorizer');
    expect(authorizers).toHaveLength(1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'REQUEST',
      IdentitySource: ['$request.header.X-Auth-Token'],
      EnableSimpleResponses: true,
      AuthorizerPayloadFormatVersion: '2.0',
      AuthorizerResultTtlInSeconds: 300,
    });
  });

  it('has no JWT authorizer and no user pool', () => {
    expect(ofType(template, 'AWS::ApiGatewayV2::Authorizer').map(([, r]) => r.Properties.AuthorizerType)).not.toContain(
      'JWT',
    );
    expect(template.findResources('AWS::Cognito::UserPool')).toEqual({});
    expect(template.findResources('AWS::Cognito::UserPoolClient')).toEqual({});
    for (const output of ['UserPoolId', 'AdminClientId', 'TokenEndpoint']) {
      expect(Object.keys(template.findOutputs(output))).toEqual([]);
    }
  });

  it('puts every route behind it, without scopes (the handlers check the rights)', () => {
    const routes = ofType(template, 'AWS::ApiGatewayV2::Route');
    const [authorizerId] = ofType(template, 'AWS::ApiGatewayV2::Authorizer')[0] ?? [];
    expect(routes.length).toBeGreaterThan(5);
    for (const [, route] of routes) {
      expect(route.Properties).toMatchObject({ AuthorizationType: 'CUSTOM', AuthorizerId: { Ref: authorizerId } });
      expect(route.Properties.AuthorizationScopes).toBeUndefined();
    }
  });

  it('runs the authorizer handler with the Keystone URL, and lets API Gateway invoke it', () => {
    expect(authorizerFunction).not.toBe('');
    const fn = resources(template)[authorizerFunction];
    expect(fn?.Properties).toMatchObject({
      Handler: 'index.handler',
      Runtime: 'nodejs22.x',
      Timeout: 10,
      Environment: { Variables: expect.objectContaining({ FENIX_KEYSTONE_URL: KEYSTONE_URL }) },
    });
    expect(fn?.Properties.VpcConfig).toBeUndefined();
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'apigateway.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [authorizerFunction, 'Arn'] },
    });
  });

  it('tells the route handlers the auth mode, and logs the Keystone subject and project', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'GET /v1/maintenance',
      Environment: { Variables: Match.objectLike({ AUTH_MODE: 'keystone', AUTH_KEYSTONE_URL: KEYSTONE_URL }) },
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      AccessLogSettings: { Format: Match.stringLikeRegexp('"sub":"\\$context.authorizer.subject"') },
    });
  });

  it('places the authorizer in the given subnets, with the network-interface rights created first', () => {
    const vpc = Template.fromStack(build({ keystone: { url: KEYSTONE_URL, vpc: VPC } }).service);
    const [id, fn] =
      ofType(vpc, 'AWS::Lambda::Function').find(([, r]) => r.Properties.Environment?.Variables?.FENIX_KEYSTONE_URL) ??
      [];
    expect(fn?.Properties.VpcConfig).toEqual({ SubnetIds: VPC.subnetIds, SecurityGroupIds: VPC.securityGroupIds });
    const [policyId, policy] =
      ofType(vpc, 'AWS::IAM::Policy').find(([, r]) =>
        JSON.stringify(r.Properties.PolicyDocument).includes('ec2:CreateNetworkInterface'),
      ) ?? [];
    expect(policy?.Properties.Roles).toEqual([{ Ref: fn?.Properties.Role['Fn::GetAtt'][0] }]);
    expect(fn?.DependsOn).toContain(policyId);
    // Only the authorizer is in the VPC.
    expect(
      ofType(vpc, 'AWS::Lambda::Function')
        .filter(([, r]) => r.Properties.VpcConfig)
        .map(([i]) => i),
    ).toEqual([id]);
  });

  it.each([
    ['without a VPC', { url: KEYSTONE_URL }],
    ['in a VPC', { url: KEYSTONE_URL, vpc: VPC }],
  ])('passes cdk-nag AwsSolutions %s', (_, keystone: KeystoneIdentity) => {
    const { app } = build({ keystone });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).not.toThrow();
  });

  it.each([
    ['an http URL', { keystone: { url: 'http://keystone.example.com/v3' } }, /https:\/\//],
    ['a URL with credentials', { keystone: { url: 'https://u:p@keystone.example.com/v3' } }, /credentials/],
    ['not a URL', { keystone: { url: 'keystone' } }, /not a URL/],
    [
      'an OIDC issuer too',
      { keystone: { url: KEYSTONE_URL }, oidc: { issuerUrl: 'https://id.example.com', audience: ['fenix'] } },
      /neither oidc nor projects/,
    ],
    ['Cognito projects too', { keystone: { url: KEYSTONE_URL }, projects: ['p1'] }, /neither oidc nor projects/],
    [
      'a bad subnet id',
      { keystone: { url: KEYSTONE_URL, vpc: { ...VPC, subnetIds: ['10.0.0.0/24'] } } },
      /keystoneVpc.subnetIds/,
    ],
    [
      'no security group',
      { keystone: { url: KEYSTONE_URL, vpc: { ...VPC, securityGroupIds: [] } } },
      /keystoneVpc.securityGroupIds/,
    ],
  ])('refuses %s at synth', (_, props, message) => {
    expect(() => build(props as Partial<ServiceStackProps>)).toThrow(message);
  });
});

describe('keystone context (infra/bin/app.ts)', () => {
  it('is off by default, and keystoneUrl or keystoneVpc alone is a mistake', () => {
    expect(keystoneFromContext({})).toBeUndefined();
    expect(keystoneFromContext({ auth: 'jwt' })).toBeUndefined();
    expect(() => keystoneFromContext({ keystoneUrl: KEYSTONE_URL })).toThrow(/need auth=keystone/);
    expect(() => keystoneFromContext({ auth: 'cognito' })).toThrow(/"jwt" or "keystone"/);
  });

  it('needs keystoneUrl with auth=keystone, and takes keystoneVpc as an object or JSON (-c)', () => {
    expect(() => keystoneFromContext({ auth: 'keystone' })).toThrow(/needs keystoneUrl/);
    expect(keystoneFromContext({ auth: 'keystone', keystoneUrl: `${KEYSTONE_URL}/` })).toEqual({ url: KEYSTONE_URL });
    expect(
      keystoneFromContext({ auth: 'keystone', keystoneUrl: KEYSTONE_URL, keystoneVpc: JSON.stringify(VPC) }),
    ).toEqual({ url: KEYSTONE_URL, vpc: VPC });
    expect(() =>
      keystoneFromContext({ auth: 'keystone', keystoneUrl: KEYSTONE_URL, keystoneVpc: { ...VPC, vpcId: 'vpc-1' } }),
    ).toThrow(/unknown field vpcId/);
  });
});

describe('the default (Cognito JWT) is untouched', () => {
  it('keeps the JWT authorizer, its scopes on the routes, and no Lambda authorizer', () => {
    const template = Template.fromStack(build().service);
    expect(ofType(template, 'AWS::ApiGatewayV2::Authorizer').map(([, r]) => r.Properties.AuthorizerType)).toEqual([
      'JWT',
    ]);
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: 'GET /v1/maintenance',
      AuthorizationType: 'JWT',
      AuthorizationScopes: ['fenix/admin'],
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      AccessLogSettings: { Format: Match.stringLikeRegexp('"clientId":"\\$context.authorizer.claims.client_id"') },
    });
    const env = JSON.stringify(ofType(template, 'AWS::Lambda::Function').map(([, r]) => r.Properties.Environment));
    expect(env).not.toContain('KEYSTONE');
  });
});
