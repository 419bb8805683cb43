import { Duration, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { repoPath } from '../paths.js';

/**
 * Lets ESM bundles load the CommonJS dependencies esbuild leaves as
 * `require()` calls (ESM output has no `require` of its own).
 */
const ESM_REQUIRE_BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/** Environment every Fenix function gets, before the caller's own. */
const BASE_ENVIRONMENT: Record<string, string> = {
  POWERTOOLS_SERVICE_NAME: 'fenix',
  // SDK v3 releases after early 2027 warn on Node < 22; Lambda runs 22.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  // Stack traces point at the TypeScript sources (bundles ship sourcemaps).
  NODE_OPTIONS: '--enable-source-maps',
};

export interface ServiceFunctionProps {
  /** Entry file, relative to the repository root (`functions/api/get-session.ts`). */
  readonly entry: string;
  /**
   * Environment variables, merged over the shared defaults
   * (`POWERTOOLS_SERVICE_NAME`, `AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED`,
   * `NODE_OPTIONS`).
   * @default - only the shared defaults
   */
  readonly environment?: Record<string, string>;
  /**
   * @default - 29 seconds: an HTTP API integration gives up after 30 s, so an
   * API handler must finish (or fail cleanly) before that.
   */
  readonly timeout?: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default - one month */
  readonly logRetention?: logs.RetentionDays;
  /** @default - none */
  readonly description?: string;
}

/**
 * A NodejsFunction with the house defaults: Node 22 on arm64, ESM bundle
 * with the AWS SDK left to the runtime, explicit log group with retention,
 * X-Ray active tracing, and its own role that can only write its own logs.
 */
export class ServiceFunction extends Construct implements iam.IGrantable {
  readonly function: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    });

    // An explicit role instead of the default one: the default attaches the
    // managed AWSLambdaBasicExecutionRole (logs:CreateLogGroup on every log
    // group in the account). This role can write to its own log group only.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Resource', {
      entry: repoPath(props.entry),
      handler: 'handler',
      // Pin both, so bundling never depends on the working directory.
      depsLockFilePath: repoPath('package-lock.json'),
      projectRoot: repoPath(),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(29),
      description: props.description,
      role: this.role,
      logGroup: this.logGroup,
      tracing: lambda.Tracing.ACTIVE,
      environment: { ...BASE_ENVIRONMENT, ...props.environment },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        // Domain errors are matched by class name (`this.name = new.target.name`);
        // minification would mangle them without keepNames.
        keepNames: true,
        minify: true,
        sourceMap: true,
        // The nodejs22.x runtime ships SDK v3; bundling it only adds cold-start weight.
        externalModules: ['@aws-sdk/*'],
      },
    });

    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'nodejs22.x is the deliberate Lambda target (DESIGN.md section 9); cdk-nag only accepts the newest runtime CDK knows',
    });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords do not support resource-level permissions',
    });
  }

  get grantPrincipal(): iam.IPrincipal {
    return this.role;
  }
}
