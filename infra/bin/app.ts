import { App, Duration, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { parseDownloadAllow } from '../../functions/core/downloads.js';
import { keystoneFromContext, type OidcIssuer } from '../constructs/api-auth.js';
import { cloudFromContext } from '../constructs/cloud-access.js';
import { checkSubscription } from '../constructs/project-subscription.js';
import { DataStack } from '../stacks/data-stack.js';
import { ServiceStack } from '../stacks/service-stack.js';

/*
 * The only place that reads configuration. Context keys (cdk.json or -c):
 *   projectMaintenanceReply  seconds, default 20
 *   projectScaleInReply      seconds, default 60
 *   plugins                  {"<name>": "<lambda arn>"} (object or JSON string), default {}
 *   oidcIssuerUrl            use this OIDC issuer instead of a Cognito user pool
 *   oidcAudience             its audiences, comma-separated (or a list)
 *   projects                 project ids that get a Cognito machine client (scope fenix/project.<id>):
 *                            a list, a JSON list or "p1,p2"; default none
 *   subscriptions            per-project deliveries of maintenance.scheduled, a list (or JSON string) of
 *                            {"project": "p1"} (SQS queue here), {"project": "p2", "consumer": "<account id or
 *                            role ARN>"} (queue readable from there) or {"project": "p3", "eventBusArn": "arn:…"}
 *                            (another bus); default none (see infra/constructs/project-subscription.ts)
 *   alarmTopicArn            SNS topic the alarms notify; default none
 *   downloadAllow            host:port entries `download` may reach over http or at private addresses
 *                            (a list or "mirror.lab:80,10.0.0.5:8080"); default none (https to public only)
 *   auth                     "jwt" (default: Cognito, or oidcIssuerUrl) or "keystone": X-Auth-Token checked
 *                            against Keystone by a Lambda authorizer (no user pool, no oidc, no projects)
 *   keystoneUrl              with auth=keystone: Keystone's https:// identity endpoint (…/v3)
 *   keystoneVpc              with auth=keystone, optional: {"subnetIds": [...], "securityGroupIds": [...]}
 *                            (object or JSON string) for the authorizer function, when Keystone is private
 *   cloud                    the cloud maintained (object or JSON string): {"driver": "sim"} (default, the simulated
 *                            cloud) or {"driver": "openstack", "secretArn": "arn:aws:secretsmanager:<region>:<account>:
 *                            secret:<name>", "vpc"?: {"subnetIds": [...], "securityGroupIds": [...]}}: OpenStack Nova,
 *                            with one clouds.yaml entry (YAML or JSON text) in that secret, in the stack's region; only
 *                            the workflow function and the create and delete session handlers read it (and run in
 *                            `vpc`, whose subnets then need a NAT or VPC endpoints, see infra/constructs/cloud-access.ts)
 * Stacks are env-agnostic: synth needs no credentials and does no lookups.
 */
const app = new App();

const seconds = (key: string, fallback: number): Duration => {
  const raw = app.node.tryGetContext(key);
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`context ${key} must be a positive whole number of seconds, got ${raw}`);
  }
  return Duration.seconds(value);
};

const json = (key: string): unknown => {
  const raw = app.node.tryGetContext(key);
  return typeof raw === 'string' ? JSON.parse(raw) : raw;
};

const plugins = (json('plugins') ?? {}) as Record<string, string>;
if (typeof plugins !== 'object' || Array.isArray(plugins)) {
  throw new Error('context plugins must be a map of plug-in name to Lambda ARN');
}

const oidcIssuerUrl = app.node.tryGetContext('oidcIssuerUrl') as string | undefined;
const rawAudience = app.node.tryGetContext('oidcAudience') as string | string[] | undefined;
const oidc: OidcIssuer | undefined = oidcIssuerUrl
  ? {
      issuerUrl: oidcIssuerUrl,
      audience: (Array.isArray(rawAudience) ? rawAudience : (rawAudience ?? '').split(','))
        .map((a) => a.trim())
        .filter(Boolean),
    }
  : undefined;

const keystone = keystoneFromContext({
  auth: app.node.tryGetContext('auth'),
  keystoneUrl: app.node.tryGetContext('keystoneUrl'),
  keystoneVpc: app.node.tryGetContext('keystoneVpc'),
});

const cloud = cloudFromContext(app.node.tryGetContext('cloud'));

const rawProjects: unknown = app.node.tryGetContext('projects') ?? [];
const projects = (
  Array.isArray(rawProjects)
    ? rawProjects
    : String(rawProjects).trim().startsWith('[')
      ? (JSON.parse(String(rawProjects)) as unknown[])
      : String(rawProjects).split(',')
)
  .map((p) => String(p).trim())
  .filter(Boolean);
const rawSubscriptions = json('subscriptions') ?? [];
if (!Array.isArray(rawSubscriptions))
  throw new Error('context subscriptions must be a list such as [{"project": "p1"}]');
const subscriptions = rawSubscriptions.map(checkSubscription);
const alarmTopicArn = app.node.tryGetContext('alarmTopicArn') as string | undefined;
const rawAllow: unknown = app.node.tryGetContext('downloadAllow') ?? [];
const downloadAllow = parseDownloadAllow((Array.isArray(rawAllow) ? rawAllow : [rawAllow]).join(','));

const data = new DataStack(app, 'FenixData', {
  description: 'Fenix serverless: stateful resources (table, event bus)',
  subscriptions,
  alarmTopicArn,
});
new ServiceStack(app, 'FenixService', {
  description: 'Fenix serverless: API, handlers and workflow',
  table: data.table,
  bus: data.bus,
  downloadAllow,
  projectMaintenanceReply: seconds('projectMaintenanceReply', 20),
  projectScaleInReply: seconds('projectScaleInReply', 60),
  plugins,
  oidc,
  projects,
  keystone,
  alarmTopicArn,
  cloud,
});

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
