import { existsSync } from 'node:fs';
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { FenixApi } from '../constructs/api.js';
import { ADMIN_SCOPE, ApiAuth, type KeystoneIdentity, type OidcIssuer, PROJECT_SCOPE } from '../constructs/api-auth.js';
import { type CloudSettings, checkCloud, OpenStackAccess } from '../constructs/cloud-access.js';
import { EventSchemas } from '../constructs/event-schemas.js';
import { Observability } from '../constructs/observability.js';
import { ServiceFunction } from '../constructs/service-function.js';
import { Workflow } from '../constructs/workflow.js';
import { repoPath } from '../paths.js';
import { TABLE_INDEXES } from './data-stack.js';

export interface ServiceStackProps extends StackProps {
  readonly table: dynamodb.ITableV2;
  readonly bus: events.IEventBus;
  /**
   * `host:port` entries downloads may reach over http or at private addresses (context `downloadAllow`).
   * @default - none: https to public addresses only
   */
  readonly downloadAllow?: string[];
  /**
   * Reply window for MAINTENANCE, PREPARE_MAINTENANCE and PLANNED_MAINTENANCE
   * (Fenix `project_maintenance_reply`).
   * @default 20 seconds
   */
  readonly projectMaintenanceReply?: Duration;
  /**
   * Reply window for SCALE_IN and MAINTENANCE_COMPLETE (Fenix `project_scale_in_reply`).
   * @default 60 seconds
   */
  readonly projectScaleInReply?: Duration;
  /**
   * Action plug-ins: name (as used in a session's `actions[].plugin`) to
   * Lambda function ARN. The state machine may invoke exactly these.
   * @default - no plug-ins
   */
  readonly plugins?: Record<string, string>;
  /**
   * Trust an existing OIDC issuer instead of creating a Cognito user pool.
   * @default - a Cognito user pool with an admin machine client
   */
  readonly oidc?: OidcIssuer;
  /**
   * Projects (VNFMs) that get their own machine client in the built-in user pool (see ApiAuth).
   * @default - none
   */
  readonly projects?: string[];
  /**
   * Accept Keystone tokens (`X-Auth-Token`) instead of JWTs (context `auth: "keystone"`, see ApiAuth).
   * @default - JWTs
   */
  readonly keystone?: KeystoneIdentity;
  /**
   * SNS topic ARN the alarms notify (failed session, API 5xx).
   * @default - alarms without actions
   */
  readonly alarmTopicArn?: string;
  /**
   * The cloud maintained (context `cloud`): with OpenStack, the functions that call it (the
   * workflow, creating and deleting a session, storing an instance constraint) read its
   * clouds.yaml entry from Secrets Manager and, with `vpc`, run in those subnets. No other
   * function gets either.
   * @default - the simulated cloud
   */
  readonly cloud?: CloudSettings;
}

type TableAccess = 'read' | 'readWrite';

/**
 * Item access to some partitions only (IAM `dynamodb:LeadingKeys`): GetItem and `writes` on the
 * table itself, no Query, no index. The patterns are partition keys the adapters write
 * (functions/adapters/dynamo/keys.ts, sim-cloud.ts); test/infra/constraints.test.ts checks they match.
 */
interface ItemAccess {
  readonly partitions: string[];
  readonly writes?: ('PutItem' | 'DeleteItem')[];
  /** Also reads the simulated cloud's instance items, when the stack runs on it (the route asks the cloud). */
  readonly simInstances?: boolean;
}
type ExecutionAccess = 'start' | 'stop' | 'describe' | 'taskResponse';

/** One Lambda per route; everything it may touch is listed here. */
interface RouteSpec {
  readonly id: string;
  readonly method: HttpMethod;
  readonly path: string;
  readonly entry: string;
  readonly scopes: string[];
  /** Table access; none when absent. */
  readonly table?: TableAccess;
  /** Instead of `table`: item access to some partitions only. */
  readonly items?: ItemAccess;
  readonly executions?: ExecutionAccess[];
  /** Needs the plug-in map (to validate `actions[].plugin`) and the session settings (reply window, download rules). */
  readonly plugins?: boolean;
  /** Removes a session's downloads. */
  readonly artifacts?: boolean;
  /** Calls the cloud driver (`deps.cloud`): host discovery, enabling the hosts a session disabled. */
  readonly cloud?: boolean;
}

const ADMIN = [ADMIN_SCOPE];
const ADMIN_OR_PROJECT = [ADMIN_SCOPE, PROJECT_SCOPE];
const SESSION = '/v1/maintenance/{session_id}';
const INSTANCE = '/v1/instance/{instance_id}';
const GROUP = '/v1/instance_group/{group_id}';
/** Partition keys of the constraints (functions/adapters/dynamo/keys.ts). */
const INSTANCE_CONSTRAINTS = ['CONSTRAINT#INSTANCE#*'];
const GROUP_CONSTRAINTS = ['CONSTRAINT#GROUP#*'];

const UPDATE_SESSION = {
  path: SESSION,
  entry: 'functions/api/update-session.ts',
  scopes: ADMIN,
  table: 'readWrite',
  executions: ['start', 'stop', 'describe', 'taskResponse'],
  plugins: true,
} as const satisfies Omit<RouteSpec, 'id' | 'method'>;

const ROUTES: RouteSpec[] = [
  {
    id: 'CreateSession',
    method: HttpMethod.POST,
    path: '/v1/maintenance',
    entry: 'functions/api/create-session.ts',
    scopes: ADMIN,
    table: 'readWrite',
    executions: ['start', 'describe'],
    plugins: true,
    cloud: true,
  },
  {
    id: 'ListSessions',
    method: HttpMethod.GET,
    path: '/v1/maintenance',
    entry: 'functions/api/list-sessions.ts',
    scopes: ADMIN,
    table: 'read',
  },
  {
    id: 'GetSession',
    method: HttpMethod.GET,
    path: SESSION,
    entry: 'functions/api/get-session.ts',
    scopes: ADMIN,
    table: 'read',
  },
  { id: 'UpdateSession', method: HttpMethod.PUT, ...UPDATE_SESSION },
  // The API document names POST for update: the same handler, as its own function like every route.
  { id: 'UpdateSessionPost', method: HttpMethod.POST, ...UPDATE_SESSION },
  {
    id: 'DeleteSession',
    method: HttpMethod.DELETE,
    path: SESSION,
    entry: 'functions/api/delete-session.ts',
    scopes: ADMIN,
    table: 'readWrite',
    executions: ['stop', 'describe'],
    artifacts: true,
    cloud: true,
  },
  {
    id: 'GetSessionDetail',
    method: HttpMethod.GET,
    path: `${SESSION}/detail`,
    entry: 'functions/api/get-session-detail.ts',
    scopes: ADMIN,
    table: 'read',
  },
  {
    id: 'GetProject',
    method: HttpMethod.GET,
    path: `${SESSION}/{project_id}`,
    entry: 'functions/api/get-project.ts',
    scopes: ADMIN_OR_PROJECT,
    table: 'read',
  },
  {
    id: 'PutProjectReply',
    method: HttpMethod.PUT,
    path: `${SESSION}/{project_id}`,
    entry: 'functions/api/put-project-reply.ts',
    scopes: ADMIN_OR_PROJECT,
    table: 'readWrite',
    executions: ['taskResponse'],
  },
  {
    // Workflow `vnf`: a reply about one instance (it wakes the parked session execution).
    id: 'PutInstanceReply',
    method: HttpMethod.PUT,
    path: `${SESSION}/{project_id}/{instance_id}`,
    entry: 'functions/api/put-instance-reply.ts',
    scopes: ADMIN_OR_PROJECT,
    table: 'readWrite',
    executions: ['taskResponse'],
  },
  {
    id: 'GetOpenApi',
    method: HttpMethod.GET,
    path: '/v1/openapi.json',
    entry: 'functions/api/get-openapi.ts',
    scopes: ADMIN_OR_PROJECT,
  },
  // Instance constraints (DESIGN §12): their own items only. The handlers check the owner project.
  {
    id: 'PutInstanceConstraint',
    method: HttpMethod.PUT,
    path: INSTANCE,
    entry: 'functions/api/put-instance-constraint.ts',
    scopes: ADMIN_OR_PROJECT,
    items: { partitions: INSTANCE_CONSTRAINTS, writes: ['PutItem'], simInstances: true },
    cloud: true,
  },
  {
    id: 'GetInstanceConstraint',
    method: HttpMethod.GET,
    path: INSTANCE,
    entry: 'functions/api/get-instance-constraint.ts',
    scopes: ADMIN_OR_PROJECT,
    items: { partitions: INSTANCE_CONSTRAINTS },
  },
  {
    id: 'DeleteInstanceConstraint',
    method: HttpMethod.DELETE,
    path: INSTANCE,
    entry: 'functions/api/delete-instance-constraint.ts',
    scopes: ADMIN_OR_PROJECT,
    items: { partitions: INSTANCE_CONSTRAINTS, writes: ['DeleteItem'] },
  },
  {
    id: 'PutInstanceGroup',
    method: HttpMethod.PUT,
    path: GROUP,
    entry: 'functions/api/put-instance-group.ts',
    scopes: ADMIN_OR_PROJECT,
    items: { partitions: GROUP_CONSTRAINTS, writes: ['PutItem'] },
  },
  {
    id: 'GetInstanceGroup',
    method: HttpMethod.GET,
    path: GROUP,
    entry: 'functions/api/get-instance-group.ts',
    scopes: ADMIN_OR_PROJECT,
    items: { partitions: GROUP_CONSTRAINTS },
  },
  {
    id: 'DeleteInstanceGroup',
    method: HttpMethod.DELETE,
    path: GROUP,
    entry: 'functions/api/delete-instance-group.ts',
    scopes: ADMIN_OR_PROJECT,
    items: { partitions: GROUP_CONSTRAINTS, writes: ['DeleteItem'] },
  },
];

/** Per-host child workflow; wired in only once its ASL exists. */
const HOST_ASL = 'statemachines/host.asl.json';

/**
 * Stateless part: HTTP API, handlers, workflow Lambda and state machine(s).
 *
 * No dependency cycle although everything points at everything: the state
 * machine references the workflow Lambda (WorkflowFunctionArn), the workflow
 * Lambda gets the API endpoint (API_BASE_URL) and the state machine ARN
 * built from its deterministic name (see Workflow), never a reference to the
 * state machine resource.
 */
export class ServiceStack extends Stack {
  constructor(scope: Construct, id: string, props: ServiceStackProps) {
    super(scope, id, props);
    const { table, bus } = props;
    // The sample `dummy` plug-in ships with the stack (always DONE), as it does locally; a plug-in
    // of the same name in props replaces it.
    const dummyPlugin = new ServiceFunction(this, 'DummyPluginFunction', {
      entry: 'functions/plugins/dummy.ts',
      description: 'Fenix sample action plug-in: takes metadata.seconds, reports DONE (FAILED on metadata.fail_hosts)',
      // metadata.seconds may be up to 840 s (14 minutes): the Lambda maximum leaves it room.
      timeout: Duration.minutes(15),
    });
    const plugins = { dummy: dummyPlugin.function.functionArn, ...props.plugins };
    const pluginsJson = JSON.stringify(plugins);
    // What creating (and continuing) a session checks, and what the workflow applies.
    const sessionSettings = {
      FENIX_PROJECT_MAINTENANCE_REPLY: String((props.projectMaintenanceReply ?? Duration.seconds(20)).toSeconds()),
      FENIX_PROJECT_SCALE_IN_REPLY: String((props.projectScaleInReply ?? Duration.seconds(60)).toSeconds()),
      FENIX_PLUGINS: pluginsJson,
      ...(props.downloadAllow?.length ? { FENIX_DOWNLOAD_ALLOW: props.downloadAllow.join(',') } : {}),
    };
    const grantTable = tableGranter(this, table);

    // The simulated cloud needs nothing beyond the table; OpenStack, its secret (and maybe a VPC).
    const cloud = checkCloud(props.cloud ?? { driver: 'sim' });
    const openstack = cloud.driver === 'openstack' ? new OpenStackAccess(this, 'OpenStack', cloud) : undefined;

    const auth = new ApiAuth(this, 'Auth', { oidc: props.oidc, projects: props.projects, keystone: props.keystone });
    const api = new FenixApi(this, 'Api', { auth });

    // Artefacts a session downloads (`<session_id>/<name>`): transient, so they live here rather than
    // in the data stack, and the grants below can name the bucket. Private, encrypted, TLS only;
    // objects a session removal missed expire, and an interrupted multipart upload does not linger.
    const artifacts = new s3.Bucket(this, 'Artifacts', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        { id: 'expire-artifacts', expiration: Duration.days(30) },
        { id: 'abort-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
    Validations.of(artifacts).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        "Only the workflow function writes here (a session's downloads) and the session's removal deletes them; enable CloudTrail S3 data events for an audit trail rather than a second bucket of access logs",
    });

    // Created before the state machines that invoke it; it receives the
    // session state machine ARN further down (name-derived, so no cycle).
    const workflowFn = new ServiceFunction(this, 'WorkflowFunction', {
      entry: 'functions/workflow/handler.ts',
      description: 'Fenix workflow tasks (dispatches on the payload action)',
      // Every step takes well under a second but the download step, which streams up to 2 GiB to S3.
      timeout: Duration.minutes(15),
      environment: {
        TABLE_NAME: table.tableName,
        EVENT_BUS_NAME: bus.eventBusName,
        API_BASE_URL: api.baseUrl,
        ...sessionSettings,
        FENIX_ARTIFACTS_BUCKET: artifacts.bucketName,
      },
    });
    grantTable(workflowFn, 'readWrite');
    bus.grantPutEventsTo(workflowFn);
    // Writes downloads (multipart) into the artifacts bucket, and nowhere else.
    workflowFn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: [artifacts.arnForObjects('*')],
      }),
    );
    grantRemoveArtifacts(artifacts, workflowFn);
    openstack?.grant(workflowFn);
    // Which projects interact: the rules on the bus (read per session, matched in-process).
    // ListRules authorizes on rule ARNs, whose names are the subscribers' choice: rules of this
    // account and region, read-only.
    const rules = this.formatArn({ service: 'events', resource: 'rule', resourceName: '*' });
    workflowFn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['events:ListRules'], resources: [rules] }),
    );
    Validations.of(workflowFn.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:rule/*]',
      reason:
        'events:ListRules (read-only) on the rules of this account and region: subscriptions are rules other stacks create, under names they choose',
    });

    // Plug-ins run in the per-host workflow (one child execution per host or
    // per pre/post phase); only without it would the session run them.
    const host = existsSync(repoPath(HOST_ASL))
      ? new Workflow(this, 'HostWorkflow', {
          definitionFile: HOST_ASL,
          substitutions: { WorkflowFunctionArn: workflowFn.function.functionArn },
          functions: [workflowFn.function, dummyPlugin.function],
          invokeArns: Object.values(props.plugins ?? {}),
        })
      : undefined;
    const session = new Workflow(this, 'SessionWorkflow', {
      definitionFile: 'statemachines/session.asl.json',
      substitutions: {
        WorkflowFunctionArn: workflowFn.function.functionArn,
        ...(host && { HostStateMachineArn: host.stateMachineArn }),
      },
      functions: host ? [workflowFn.function] : [workflowFn.function, dummyPlugin.function],
      invokeArns: host ? [] : Object.values(props.plugins ?? {}),
      continueAsNew: true,
    });
    if (host) session.grantStartChildSync(host);

    // The workflow answers task tokens itself when a round closed before its
    // token was stored, and may start (resume) session executions.
    workflowFn.function.addEnvironment('STATE_MACHINE_ARN', session.stateMachineArn);
    session.grantTaskResponse(workflowFn);
    session.grantStartExecution(workflowFn);

    const authEnv = auth.environment;
    const routeFunctions = new Map<string, ServiceFunction>();
    for (const route of ROUTES) {
      const fn = new ServiceFunction(this, `${route.id}Function`, {
        entry: route.entry,
        description: `${route.method} ${route.path}`,
        environment: {
          ...authEnv,
          ...((route.table || route.items) && { TABLE_NAME: table.tableName }),
          ...(route.executions && { STATE_MACHINE_ARN: session.stateMachineArn }),
          ...(route.plugins && sessionSettings),
          ...(route.artifacts && { FENIX_ARTIFACTS_BUCKET: artifacts.bucketName }),
        },
      });

      if (route.table) grantTable(fn, route.table);
      if (route.items) grantItems(fn, table, route.items, cloud.driver === 'sim');
      if (route.artifacts) grantRemoveArtifacts(artifacts, fn);
      if (route.cloud) openstack?.grant(fn);

      const executions = route.executions ?? [];
      if (executions.includes('start')) session.grantStartExecution(fn);
      // Task tokens only come from the session workflow (the host one has no
      // callback tasks).
      if (executions.includes('taskResponse')) session.grantTaskResponse(fn);
      const onExecutions = [
        ...(executions.includes('stop') ? ['states:StopExecution'] : []),
        ...(executions.includes('describe') ? ['states:DescribeExecution'] : []),
      ];
      if (onExecutions.length > 0) session.grantExecution(fn, ...onExecutions);

      api.addRoute(route.method, route.path, fn.function, route.scopes);
      routeFunctions.set(route.id, fn);
    }

    // Dashboard and alarms, over every function created above.
    new Observability(this, 'Observability', {
      bus,
      httpApi: api.httpApi,
      sessionWorkflow: session,
      hostWorkflow: host,
      functions: this.node.findAll().filter((c): c is lambda.Function => c instanceof lambda.Function),
      alarmTopicArn: props.alarmTopicArn,
      metricLogs: {
        replies: (routeFunctions.get('PutProjectReply') as ServiceFunction).logGroup,
        workflow: workflowFn.logGroup,
      },
    });

    // The event contract, browsable (and downloadable as code bindings) in the EventBridge console.
    const eventSchemas = new EventSchemas(this, 'EventSchemas');

    new CfnOutput(this, 'ApiUrl', { value: api.baseUrl });
    new CfnOutput(this, 'EventBusName', { value: bus.eventBusName });
    new CfnOutput(this, 'EventBusArn', { value: bus.eventBusArn });
    new CfnOutput(this, 'EventSchemaRegistryName', { value: eventSchemas.registryName });
    new CfnOutput(this, 'StateMachineArn', { value: session.stateMachineArn });
    new CfnOutput(this, 'ArtifactsBucketName', {
      value: artifacts.bucketName,
      description: "Where sessions' downloads are kept (<session_id>/<name>); grant your plug-ins s3:GetObject here",
    });
    if (auth.userPool && auth.adminClient && auth.tokenEndpoint) {
      new CfnOutput(this, 'UserPoolId', { value: auth.userPool.userPoolId });
      new CfnOutput(this, 'AdminClientId', {
        value: auth.adminClient.userPoolClientId,
        description:
          'Client-credentials client with scope fenix/admin; read its secret from the Cognito console or DescribeUserPoolClient',
      });
      new CfnOutput(this, 'TokenEndpoint', { value: auth.tokenEndpoint });
    }
  }
}

/** Listing and deleting a session's downloads (`<session_id>/…`): what removing a session needs. */
function grantRemoveArtifacts(bucket: s3.Bucket, fn: ServiceFunction): void {
  fn.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }));
  fn.role.addToPrincipalPolicy(
    new iam.PolicyStatement({ actions: ['s3:DeleteObject'], resources: [bucket.arnForObjects('*')] }),
  );
  acknowledgeArtifactObjects(bucket, fn);
}

/** Object actions name the bucket's objects by wildcard: their keys are session ids, chosen at run time. */
function acknowledgeArtifactObjects(bucket: s3.Bucket, fn: ServiceFunction): void {
  const logicalId = Stack.of(bucket).getLogicalId(bucket.node.defaultChild as s3.CfnBucket);
  Validations.of(fn.role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/*]`,
    reason: 'Objects of the artifacts bucket only; their keys (<session_id>/<name>) are chosen at run time',
  });
}

/** GetItem (and the writes) on the items whose partition key matches one of the patterns, nothing else. */
function grantItems(fn: ServiceFunction, table: dynamodb.ITableV2, access: ItemAccess, simCloud: boolean): void {
  const partitions = [...access.partitions, ...(access.simInstances && simCloud ? ['SIM#INSTANCE'] : [])];
  fn.role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['dynamodb:GetItem', ...(access.writes ?? []).map((action) => `dynamodb:${action}`)],
      resources: [table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': partitions } },
    }),
  );
}

/**
 * Table grants without CDK's `index/*` wildcard: item actions on the table,
 * Query/Scan on each named index (writes never target an index).
 */
function tableGranter(scope: Construct, table: dynamodb.ITableV2) {
  const tableOnly = dynamodb.TableV2.fromTableAttributes(scope, 'TableRef', {
    tableArn: table.tableArn,
    grantIndexPermissions: false,
  });
  return (fn: ServiceFunction, access: TableAccess): void => {
    if (access === 'read') tableOnly.grantReadData(fn);
    else tableOnly.grantReadWriteData(fn);
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query', 'dynamodb:Scan'],
        resources: TABLE_INDEXES.map((index) => `${table.tableArn}/index/${index}`),
      }),
    );
  };
}
