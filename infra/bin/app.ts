import { App, Duration, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { OidcIssuer } from '../constructs/api-auth.js';
import { DataStack } from '../stacks/data-stack.js';
import { ServiceStack } from '../stacks/service-stack.js';

/*
 * The only place that reads configuration. Context keys (cdk.json or -c):
 *   projectMaintenanceReply  seconds, default 20
 *   projectScaleInReply      seconds, default 60
 *   plugins                  {"<name>": "<lambda arn>"} (object or JSON string), default {}
 *   oidcIssuerUrl            use this OIDC issuer instead of a Cognito user pool
 *   oidcAudience             its audiences, comma-separated (or a list)
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

const data = new DataStack(app, 'FenixData', {
  description: 'Fenix serverless: stateful resources (table, event bus)',
});
new ServiceStack(app, 'FenixService', {
  description: 'Fenix serverless: API, handlers and workflow',
  table: data.table,
  bus: data.bus,
  projectMaintenanceReply: seconds('projectMaintenanceReply', 20),
  projectScaleInReply: seconds('projectScaleInReply', 60),
  plugins,
  oidc,
});

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
