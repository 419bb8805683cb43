import { Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import type { ServiceFunction } from './service-function.js';

/**
 * Subnets and security groups a function runs in, by id (context `keystoneVpc`, `cloud.vpc`). The
 * subnets need a route to whatever the function calls; the groups must allow that egress.
 */
export interface FunctionVpc {
  readonly subnetIds: string[];
  readonly securityGroupIds: string[];
}

const SUBNET_ID = /^subnet-[0-9a-f]{8,17}$/;
const SECURITY_GROUP_ID = /^sg-[0-9a-f]{8,17}$/;

/**
 * `value` checked as a FunctionVpc: exactly `subnetIds` and `securityGroupIds`, each a non-empty
 * list of ids that look like ids. `name` is the setting the errors name (`keystoneVpc`, `cloud.vpc`).
 */
export const checkFunctionVpc = (value: unknown, name: string): FunctionVpc => {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(`${name} must be {"subnetIds": [...], "securityGroupIds": [...]}`);
  const vpc = value as Record<string, unknown>;
  const unknown = Object.keys(vpc).filter((key) => key !== 'subnetIds' && key !== 'securityGroupIds');
  if (unknown.length > 0) throw new Error(`${name}: unknown field ${unknown.join(', ')}`);
  const list = (field: string, pattern: RegExp, example: string): void => {
    const ids = vpc[field];
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => typeof id === 'string' && pattern.test(id)))
      throw new Error(`${name}.${field} must be a non-empty list of ids such as "${example}"`);
  };
  list('subnetIds', SUBNET_ID, 'subnet-0123456789abcdef0');
  list('securityGroupIds', SECURITY_GROUP_ID, 'sg-0123456789abcdef0');
  return value as FunctionVpc;
};

/**
 * The network-interface rights Lambda needs to run functions in a VPC: the EC2 statement of the
 * managed AWSLambdaVPCAccessExecutionRole (v3), inline (the log rights are each function's own).
 * One policy serves every function placed with it (see placeInVpc).
 */
export const vpcAccessPolicy = (scope: Construct, id: string): iam.Policy => {
  const access = new iam.Policy(scope, id, {
    statements: [
      new iam.PolicyStatement({
        actions: [
          'ec2:CreateNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSubnets',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ],
        resources: ['*'],
      }),
    ],
  });
  Validations.of(access).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      "Lambda's VPC networking (the EC2 statement of the managed AWSLambdaVPCAccessExecutionRole, inline): ec2:DescribeNetworkInterfaces and ec2:DescribeSubnets have no resource-level permissions, and the interfaces Lambda creates have no ARN before they exist",
  });
  return access;
};

/**
 * Puts `fn` in the given subnets with the given groups. Through the L1 resource because the context
 * names subnets and groups by id only: the L2 `vpc` needs an IVpc, which `Vpc.fromVpcAttributes`
 * builds only from a VPC id and its availability zones, which the context does not carry (and synth
 * does no lookups). `access` (vpcAccessPolicy) is attached to the function's role and created
 * first, as Lambda checks those rights when it creates the function.
 */
export const placeInVpc = (fn: ServiceFunction, vpc: FunctionVpc, access: iam.Policy): void => {
  const cfn = fn.function.node.defaultChild as lambda.CfnFunction;
  cfn.vpcConfig = { subnetIds: vpc.subnetIds, securityGroupIds: vpc.securityGroupIds };
  access.attachToRole(fn.role);
  cfn.addResourceDependency(access.node.defaultChild as iam.CfnPolicy);
};
