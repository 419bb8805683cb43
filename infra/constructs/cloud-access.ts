import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { checkFunctionVpc, type FunctionVpc, placeInVpc, vpcAccessPolicy } from './function-vpc.js';
import type { ServiceFunction } from './service-function.js';

/** The cloud the functions maintain (DESIGN §13, context `cloud`). */
export type CloudSettings = SimCloudSettings | OpenStackCloudSettings;

/** The simulated cloud: its inventory lives in the table; nothing to configure. */
export interface SimCloudSettings {
  readonly driver: 'sim';
}

/** OpenStack Nova, reached with one clouds.yaml entry kept in Secrets Manager. */
export interface OpenStackCloudSettings {
  readonly driver: 'openstack';
  /**
   * ARN of the secret whose text (SecretString) is one clouds.yaml entry, YAML or JSON. In the
   * stack's region (the functions read it there). Complete (`…:secret:<name>-AbCdEf`) or without
   * the random suffix (`…:secret:<name>`); a name that itself ends in `-` and six letters or digits
   * reads as complete, so pass such a secret's complete ARN.
   */
  readonly secretArn: string;
  /**
   * Subnets and groups for the functions that call OpenStack, when it is reachable only from
   * inside a VPC. The subnets also need a NAT gateway, or VPC endpoints for DynamoDB, EventBridge,
   * Step Functions, S3 and Secrets Manager (none are created here; the workflow's downloads from
   * outside the VPC need the NAT).
   * @default - the functions run outside any VPC
   */
  readonly vpc?: FunctionVpc;
}

/** A Secrets Manager secret ARN, complete or partial (any partition). */
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z]{2}(?:-[a-z]+)+-\d+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;
/** The 6-character suffix Secrets Manager appends to a secret's name in its complete ARN (CDK's own test). */
const COMPLETE_SUFFIX = /-[A-Za-z0-9]{6}$/;

/**
 * The `cloud` context checked at synth: absent means `{"driver": "sim"}`; an object or its JSON text
 * (`-c cloud='{…}'`); only the keys its driver takes.
 */
export const cloudFromContext = (raw: unknown): CloudSettings => {
  if (raw === undefined) return { driver: 'sim' };
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      throw new Error(`context cloud must be a JSON object such as {"driver": "openstack", …}, got ${raw}`);
    }
  }
  return checkCloud(value);
};

/** `value` as CloudSettings, or an error naming what is wrong with it. */
export const checkCloud = (value: unknown): CloudSettings => {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error('context cloud must be an object such as {"driver": "sim"} or {"driver": "openstack", …}');
  const cloud = value as Record<string, unknown>;
  if (cloud.driver === 'sim') {
    const extra = Object.keys(cloud).filter((key) => key !== 'driver');
    if (extra.length > 0) throw new Error(`context cloud: driver "sim" takes no ${extra.join(', ')}`);
    return { driver: 'sim' };
  }
  if (cloud.driver === undefined) throw new Error('context cloud needs a driver: "sim" or "openstack"');
  if (cloud.driver !== 'openstack')
    throw new Error(`context cloud.driver must be "sim" or "openstack", not ${JSON.stringify(cloud.driver)}`);
  const unknown = Object.keys(cloud).filter((key) => !['driver', 'secretArn', 'vpc'].includes(key));
  if (unknown.length > 0) throw new Error(`context cloud: unknown field ${unknown.join(', ')}`);
  if (typeof cloud.secretArn !== 'string' || !SECRET_ARN.test(cloud.secretArn))
    throw new Error(
      `context cloud.secretArn must be a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>), got ${JSON.stringify(cloud.secretArn)}`,
    );
  return {
    driver: 'openstack',
    secretArn: cloud.secretArn,
    ...(cloud.vpc !== undefined ? { vpc: checkFunctionVpc(cloud.vpc, 'context cloud.vpc') } : {}),
  };
};

/**
 * What a function needs to drive OpenStack: `FENIX_CLOUD=openstack`, the secret's ARN in
 * `FENIX_OPENSTACK_SECRET_ARN` and `secretsmanager:GetSecretValue` on that secret alone, and, with
 * `vpc`, a place in those subnets. Only the functions given to `grant` get any of it.
 *
 * The grant covers the secret, not its key: a secret encrypted with the AWS managed key
 * (aws/secretsmanager) needs nothing more, but with a customer managed KMS key, that key's policy
 * (or a grant) must allow kms:Decrypt to these functions' roles; it is not added here, to keep
 * KMS wildcards out of the stack.
 */
export class OpenStackAccess extends Construct {
  readonly secretArn: string;
  /** The secret in IAM's terms: its ARN, or any of its complete ARNs when given without the suffix. */
  readonly secretResource: string;
  private readonly vpc?: FunctionVpc;
  private vpcAccess?: iam.Policy;

  constructor(scope: Construct, id: string, settings: OpenStackCloudSettings) {
    super(scope, id);
    const checked = checkCloud(settings) as OpenStackCloudSettings;
    this.secretArn = checked.secretArn;
    this.secretResource = COMPLETE_SUFFIX.test(checked.secretArn) ? checked.secretArn : `${checked.secretArn}-??????`;
    this.vpc = checked.vpc;
  }

  /** Gives `fn` the OpenStack driver (see the class). */
  grant(fn: ServiceFunction): void {
    fn.function.addEnvironment('FENIX_CLOUD', 'openstack');
    fn.function.addEnvironment('FENIX_OPENSTACK_SECRET_ARN', this.secretArn);
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [this.secretResource] }),
    );
    if (this.vpc) {
      this.vpcAccess ??= vpcAccessPolicy(this, 'VpcAccess');
      placeInVpc(fn, this.vpc, this.vpcAccess);
    }
  }
}
