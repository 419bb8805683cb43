import { Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CloudSettings, cloudFromContext } from '../../infra/constructs/cloud-access.js';
import { build, ofType, type Resource } from './template.js';

/**
 * Context `cloud` (DESIGN §13): with OpenStack, the functions that call the cloud driver (the
 * workflow, creating and deleting a session, storing an instance constraint) get the driver, read
 * the clouds.yaml secret and, with `vpc`, run in those subnets; no other function gets any of it.
 * Template assertions only.
 */

type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:fenix/openstack-AbC123';
const PARTIAL_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:fenix/openstack';
const VPC = {
  subnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
  securityGroupIds: ['sg-0123456789abcdef0'],
};
const OPENSTACK: CloudSettings = { driver: 'openstack', secretArn: SECRET };

const WORKFLOW = 'Fenix workflow tasks (dispatches on the payload action)';
/** The functions that reach the cloud, by description (storing an instance constraint asks it about the instance). */
const CLOUD_FUNCTIONS = [
  WORKFLOW,
  'POST /v1/maintenance',
  'DELETE /v1/maintenance/{session_id}',
  'PUT /v1/instance/{instance_id}',
].sort();

const functions = (template: Template) => ofType(template, 'AWS::Lambda::Function');
const env = (fn: Resource): Record<string, unknown> => fn.Properties.Environment?.Variables ?? {};
const descriptions = (entries: [string, Resource][]) => entries.map(([, r]) => r.Properties.Description).sort();
/** Logical id of a function's role. */
const roleOf = (fn: Resource): string => fn.Properties.Role['Fn::GetAtt'][0];
/** Every IAM statement of the template, with the roles it applies to (policies and inline role policies). */
const statements = (template: Template): { roles: string[]; statement: Statement }[] => [
  ...ofType(template, 'AWS::IAM::Policy').flatMap(([, r]) =>
    (r.Properties.PolicyDocument.Statement as Statement[]).map((statement) => ({
      roles: (r.Properties.Roles as { Ref: string }[]).map((role) => role.Ref),
      statement,
    })),
  ),
  ...ofType(template, 'AWS::IAM::Role').flatMap(([id, r]) =>
    ((r.Properties.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[]).flatMap((p) =>
      p.PolicyDocument.Statement.map((statement) => ({ roles: [id], statement })),
    ),
  ),
];
const mentioning = (template: Template, text: string) =>
  statements(template).filter(({ statement }) => JSON.stringify(statement).includes(text));

describe('the default (simulated cloud)', () => {
  let template: Template;
  beforeAll(() => {
    template = Template.fromStack(build().service);
  });

  it('gives no function FENIX_CLOUD or a secret', () => {
    for (const [, fn] of functions(template)) {
      expect(env(fn)).not.toHaveProperty('FENIX_CLOUD');
      expect(env(fn)).not.toHaveProperty('FENIX_OPENSTACK_SECRET_ARN');
    }
  });

  it('grants no secretsmanager or KMS action anywhere, and puts no function in a VPC', () => {
    expect(mentioning(template, 'secretsmanager:')).toEqual([]);
    expect(mentioning(template, 'kms:')).toEqual([]);
    expect(mentioning(template, 'ec2:')).toEqual([]);
    expect(functions(template).filter(([, fn]) => fn.Properties.VpcConfig)).toEqual([]);
  });

  it('is the same template as an explicit {"driver": "sim"}', () => {
    const sim = Template.fromStack(build({ cloud: { driver: 'sim' } }).service);
    expect(sim.toJSON()).toEqual(template.toJSON());
  });
});

describe('cloud: openstack', () => {
  let template: Template;
  beforeAll(() => {
    template = Template.fromStack(build({ cloud: OPENSTACK }).service);
  });

  it('gives exactly the workflow, create-session, delete-session and put-instance-constraint functions the driver and the secret', () => {
    const withCloud = functions(template).filter(([, fn]) => env(fn).FENIX_CLOUD !== undefined);
    expect(descriptions(withCloud)).toEqual(CLOUD_FUNCTIONS);
    for (const [, fn] of withCloud) {
      expect(env(fn)).toMatchObject({ FENIX_CLOUD: 'openstack', FENIX_OPENSTACK_SECRET_ARN: SECRET });
    }
    const withSecret = functions(template).filter(([, fn]) => env(fn).FENIX_OPENSTACK_SECRET_ARN !== undefined);
    expect(descriptions(withSecret)).toEqual(CLOUD_FUNCTIONS);
  });

  it('lets exactly those roles call GetSecretValue, on that secret and nothing else', () => {
    const cloudRoles = functions(template)
      .filter(([, fn]) => env(fn).FENIX_CLOUD)
      .map(([, fn]) => roleOf(fn))
      .sort();
    const grants = mentioning(template, 'secretsmanager:');
    expect(grants.flatMap(({ roles }) => roles).sort()).toEqual(cloudRoles);
    for (const { statement } of grants) {
      expect(statement).toEqual({ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: SECRET });
    }
    expect(mentioning(template, 'kms:')).toEqual([]);
  });

  it('keeps the functions out of any VPC, and the workflow function its timeout and memory', () => {
    expect(functions(template).filter(([, fn]) => fn.Properties.VpcConfig)).toEqual([]);
    expect(mentioning(template, 'ec2:')).toEqual([]);
    template.hasResourceProperties('AWS::Lambda::Function', { Description: WORKFLOW, Timeout: 900, MemorySize: 512 });
  });

  it('grants any complete ARN of a secret given without its random suffix', () => {
    const partial = Template.fromStack(build({ cloud: { driver: 'openstack', secretArn: PARTIAL_SECRET } }).service);
    const grants = mentioning(partial, 'secretsmanager:');
    expect(grants).toHaveLength(CLOUD_FUNCTIONS.length);
    for (const { statement } of grants) expect(statement.Resource).toBe(`${PARTIAL_SECRET}-??????`);
    const withCloud = functions(partial).filter(([, fn]) => env(fn).FENIX_OPENSTACK_SECRET_ARN === PARTIAL_SECRET);
    expect(descriptions(withCloud)).toEqual(CLOUD_FUNCTIONS);
  });
});

describe('cloud: openstack in a VPC', () => {
  let template: Template;
  beforeAll(() => {
    template = Template.fromStack(build({ cloud: { ...OPENSTACK, vpc: VPC } }).service);
  });

  it('places exactly those functions in the given subnets and groups', () => {
    const inVpc = functions(template).filter(([, fn]) => fn.Properties.VpcConfig);
    expect(descriptions(inVpc)).toEqual(CLOUD_FUNCTIONS);
    for (const [, fn] of inVpc) {
      expect(fn.Properties.VpcConfig).toEqual({ SubnetIds: VPC.subnetIds, SecurityGroupIds: VPC.securityGroupIds });
    }
    template.hasResourceProperties('AWS::Lambda::Function', { Description: WORKFLOW, Timeout: 900, MemorySize: 512 });
  });

  it('gives only their roles the network-interface rights, created before the functions', () => {
    const inVpc = functions(template).filter(([, fn]) => fn.Properties.VpcConfig);
    const [policyId, policy] =
      ofType(template, 'AWS::IAM::Policy').find(([, r]) =>
        JSON.stringify(r.Properties.PolicyDocument).includes('ec2:CreateNetworkInterface'),
      ) ?? [];
    expect(policy?.Properties.Roles.map((role: { Ref: string }) => role.Ref).sort()).toEqual(
      inVpc.map(([, fn]) => roleOf(fn)).sort(),
    );
    expect(mentioning(template, 'ec2:').flatMap(({ roles }) => roles)).toHaveLength(CLOUD_FUNCTIONS.length);
    for (const [, fn] of inVpc) expect(fn.DependsOn).toContain(policyId);
  });

  it('passes cdk-nag AwsSolutions, also beside a Keystone authorizer in its own VPC', () => {
    for (const props of [
      { cloud: OPENSTACK },
      { cloud: { ...OPENSTACK, vpc: VPC } },
      { cloud: { driver: 'openstack', secretArn: PARTIAL_SECRET, vpc: VPC } as CloudSettings },
      {
        cloud: { ...OPENSTACK, vpc: VPC },
        keystone: { url: 'https://keystone.example.com/v3', vpc: { ...VPC, subnetIds: ['subnet-0123456789abcdef2'] } },
      },
    ]) {
      const { app } = build(props);
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      expect(() => app.synth()).not.toThrow();
    }
  });
});

describe('cloud context (infra/bin/app.ts)', () => {
  it('is the simulated cloud when absent or {"driver": "sim"}', () => {
    expect(cloudFromContext(undefined)).toEqual({ driver: 'sim' });
    expect(cloudFromContext({ driver: 'sim' })).toEqual({ driver: 'sim' });
    expect(cloudFromContext('{"driver":"sim"}')).toEqual({ driver: 'sim' });
  });

  it('takes openstack as an object or JSON text (-c), with or without a vpc', () => {
    expect(cloudFromContext({ driver: 'openstack', secretArn: SECRET })).toEqual(OPENSTACK);
    expect(cloudFromContext(JSON.stringify({ driver: 'openstack', secretArn: PARTIAL_SECRET, vpc: VPC }))).toEqual({
      driver: 'openstack',
      secretArn: PARTIAL_SECRET,
      vpc: VPC,
    });
    expect(
      cloudFromContext({
        driver: 'openstack',
        secretArn: 'arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x',
      }),
    ).toMatchObject({ driver: 'openstack' });
  });

  it.each([
    ['not JSON', 'openstack', /must be a JSON object/],
    ['a list', [], /must be an object/],
    ['no driver', {}, /needs a driver/],
    ['an unknown driver', { driver: 'aws' }, /cloud.driver must be "sim" or "openstack", not "aws"/],
    ['settings on sim', { driver: 'sim', secretArn: SECRET }, /driver "sim" takes no secretArn/],
    ['no secretArn', { driver: 'openstack' }, /cloud.secretArn must be a Secrets Manager secret ARN/],
    ['a secret name', { driver: 'openstack', secretArn: 'fenix/openstack' }, /cloud.secretArn must be/],
    [
      'another service',
      { driver: 'openstack', secretArn: 'arn:aws:ssm:eu-west-1:123456789012:parameter/fenix' },
      /cloud.secretArn must be/,
    ],
    [
      'no account',
      { driver: 'openstack', secretArn: 'arn:aws:secretsmanager:eu-west-1::secret:fenix' },
      /cloud.secretArn must be/,
    ],
    [
      'a wildcard',
      { driver: 'openstack', secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:*' },
      /cloud.secretArn must be/,
    ],
    ['an unknown field', { ...OPENSTACK, region: 'eu-west-1' }, /cloud: unknown field region/],
    ['a vpc that is no object', { ...OPENSTACK, vpc: 'vpc-0123' }, /cloud.vpc must be \{"subnetIds"/],
    ['a vpc id in vpc', { ...OPENSTACK, vpc: { ...VPC, vpcId: 'vpc-0123456789abcdef0' } }, /unknown field vpcId/],
    ['a bad subnet id', { ...OPENSTACK, vpc: { ...VPC, subnetIds: ['10.0.0.0/24'] } }, /cloud.vpc.subnetIds/],
    ['no subnet', { ...OPENSTACK, vpc: { ...VPC, subnetIds: [] } }, /cloud.vpc.subnetIds/],
    ['a bad group id', { ...OPENSTACK, vpc: { ...VPC, securityGroupIds: ['default'] } }, /cloud.vpc.securityGroupIds/],
    ['no group', { ...OPENSTACK, vpc: { subnetIds: VPC.subnetIds } }, /cloud.vpc.securityGroupIds/],
  ])('refuses %s at synth', (_, context, message) => {
    expect(() => cloudFromContext(context)).toThrow(message);
  });

  it('is checked by the stack too', () => {
    expect(() => build({ cloud: { driver: 'openstack', secretArn: 'nope' } })).toThrow(/cloud.secretArn must be/);
    expect(() => build({ cloud: { ...OPENSTACK, vpc: { ...VPC, subnetIds: ['subnet-x'] } } })).toThrow(
      /cloud.vpc.subnetIds/,
    );
  });
});
