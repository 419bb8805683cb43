import { Duration, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ADMIN_SCOPE, type ApiAuth, PROJECT_SCOPE } from './api-auth.js';

/**
 * Answers requests that match no route. HTTP API route keys cannot end with
 * "/" (CreateRoute rejects them and CDK's HttpRouteKey throws), so
 * `/v1/maintenance/` can never be a route of its own. Such requests fall
 * through to the `ANY /{proxy+}` route, whose function redirects with 308
 * (method and body kept; clients resend the Authorization header on a
 * same-origin redirect) to the same path without the trailing slash, where
 * the real route serves it. Anything else gets the API's JSON 404.
 *
 * Leading slashes are collapsed so `//evil.example/` cannot become a
 * protocol-relative open redirect. Assumes the `$default` stage and no base
 * path mapping (`rawPath` is then the public path).
 */
export const TRAILING_SLASH_HANDLER = `
exports.handler = async (event) => {
  const path = event.rawPath || '/';
  if (path.length > 1 && path.endsWith('/')) {
    const target = '/' + path.replace(/^\\/+/, '').replace(/\\/+$/, '');
    const query = event.rawQueryString ? '?' + event.rawQueryString : '';
    return { statusCode: 308, headers: { location: target + query }, body: '' };
  }
  return {
    statusCode: 404,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ error: 'not_found', message: 'No such resource' }),
  };
};
`;

export interface FenixApiProps {
  readonly auth: ApiAuth;
  /** @default 50 requests per second */
  readonly throttleRateLimit?: number;
  /** @default 100 requests */
  readonly throttleBurstLimit?: number;
  /** @default - one month */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * The HTTP API: `$default` stage with throttling and JSON access logs, a JWT
 * (or Keystone Lambda) authorizer on every route, no CORS (machine clients only), and the
 * trailing-slash fallback described above.
 */
export class FenixApi extends Construct {
  readonly httpApi: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  /** `https://{id}.execute-api.{region}.amazonaws.com` (no trailing slash). */
  readonly baseUrl: string;
  private readonly auth: ApiAuth;

  constructor(scope: Construct, id: string, props: FenixApiProps) {
    super(scope, id);
    this.auth = props.auth;

    this.httpApi = new apigwv2.HttpApi(this, 'Resource', {
      description: 'Fenix Host Maintenance API v1',
      createDefaultStage: false,
    });

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    });
    this.stage = this.httpApi.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: {
        rateLimit: props.throttleRateLimit ?? 50,
        burstLimit: props.throttleBurstLimit ?? 100,
      },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            time: '$context.requestTime',
            ip: '$context.identity.sourceIp',
            method: '$context.httpMethod',
            path: '$context.path',
            routeKey: '$context.routeKey',
            status: '$context.status',
            latency: '$context.responseLatency',
            integrationStatus: '$context.integrationStatus',
            integrationError: '$context.integrationErrorMessage',
            authorizerError: '$context.authorizer.error',
            // Who called: the machine client (Cognito) and the token subject; with Keystone, the
            // user id and project the Lambda authorizer passed on.
            ...(props.auth.mode === 'keystone'
              ? { sub: '$context.authorizer.subject', project: '$context.authorizer.project' }
              : { clientId: '$context.authorizer.claims.client_id', sub: '$context.authorizer.claims.sub' }),
          }),
        ),
      },
    });
    this.baseUrl = this.httpApi.apiEndpoint;

    const fallback = new lambda.Function(this, 'TrailingSlashFunction', {
      description: 'Redirects /path/ to /path (HTTP API route keys cannot end with a slash)',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: lambda.Code.fromInline(TRAILING_SLASH_HANDLER),
      memorySize: 128,
      timeout: Duration.seconds(5),
      role: new iam.Role(this, 'TrailingSlashRole', {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      }),
      logGroup: new logs.LogGroup(this, 'TrailingSlashLogs', {
        retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      }),
    });
    fallback.logGroup.grantWrite(fallback);
    Validations.of(fallback).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'nodejs22.x is the deliberate Lambda target (DESIGN.md section 9), same as every other function',
    });
    this.addRoute(apigwv2.HttpMethod.ANY, '/{proxy+}', fallback, [ADMIN_SCOPE, PROJECT_SCOPE]);
  }

  /**
   * Routes `method path` to `fn` behind the authorizer. With JWTs, a token
   * must hold at least one of `scopes`; HTTP APIs take scopes only with JWT
   * authorizers, so with Keystone the handlers alone check the rights (as
   * they do with JWTs too). With the trailing slash, the request is
   * redirected here by the `ANY /{proxy+}` fallback.
   */
  addRoute(method: apigwv2.HttpMethod, path: string, fn: lambda.IFunction, scopes: string[]): void {
    const id = `${method}${path}`.replace(/[^A-Za-z0-9]/g, '');
    this.httpApi.addRoutes({
      path,
      methods: [method],
      integration: new HttpLambdaIntegration(`${id}Integration`, fn),
      authorizer: this.auth.authorizer,
      ...(this.auth.mode === 'jwt' ? { authorizationScopes: scopes } : {}),
    });
  }
}
