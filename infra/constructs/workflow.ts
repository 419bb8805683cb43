import { readFileSync } from 'node:fs';
import { ArnFormat, Names, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct, type IConstruct } from 'constructs';
import { repoPath } from '../paths.js';

/** Unqualified or qualified Lambda function ARN (any partition). */
const LAMBDA_ARN = /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9$_-]+)?$/;

/** Every distinct `${Name}` placeholder in an ASL document, sorted. */
export function findPlaceholders(asl: string): string[] {
  const names = new Set<string>();
  for (const match of asl.matchAll(/\$\{([^}]*)\}/g)) names.add(match[1] ?? '');
  return [...names].sort();
}

export interface WorkflowProps {
  /** ASL file relative to the repository root (`statemachines/session.asl.json`). */
  readonly definitionFile: string;
  /**
   * A value for every `${Placeholder}` in the ASL, and nothing else: synth
   * fails on a missing or an unused key, so ASL and CDK cannot drift apart.
   */
  readonly substitutions: Record<string, string>;
  /**
   * Functions the state machine may invoke (the function and its versions).
   * No other Lambda can be invoked unless listed in `invokeArns`.
   */
  readonly functions: lambda.IFunction[];
  /**
   * Extra Lambda ARNs the state machine may invoke (plug-ins, possibly in
   * other accounts; those also need a resource policy on their side).
   * @default - none
   */
  readonly invokeArns?: string[];
  /**
   * The ASL starts fresh executions of its own state machine
   * (`"StateMachineArn.$": "$$.StateMachine.Id"`, continue-as-new).
   * @default false
   */
  readonly continueAsNew?: boolean;
  /** @default - one month */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * A STANDARD state machine whose definition is the ASL file under
 * `statemachines/`, inlined (so it shows in the template and `cdk diff`),
 * with logging and X-Ray tracing. Grants are explicit: the ASL is never
 * parsed for permissions.
 *
 * The state machine gets a deterministic name (unique per stack and
 * construct path) so that its ARN can be written without referencing the
 * resource. The functions it invokes can then receive that ARN (env,
 * IAM) although the state machine itself references them: a resource
 * reference there would be a dependency cycle.
 */
export class Workflow extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;
  readonly stateMachineName: string;
  /** ARN built from the name: safe to hand to any function, cycle-free. */
  readonly stateMachineArn: string;
  /** `arn:...:execution:<name>:*`, every execution of this state machine. */
  readonly executionArns: string;

  constructor(scope: Construct, id: string, props: WorkflowProps) {
    super(scope, id);

    const asl = readFileSync(repoPath(props.definitionFile), 'utf8');
    checkSubstitutions(props.definitionFile, asl, props.substitutions);
    try {
      JSON.parse(asl);
    } catch (error) {
      throw new Error(`${props.definitionFile} is not valid JSON: ${(error as Error).message}`);
    }

    const stack = Stack.of(this);
    this.stateMachineName = Names.uniqueResourceName(this, { maxLength: 80 });
    const arn = (resource: string, resourceName: string) =>
      stack.formatArn({ service: 'states', resource, resourceName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    this.stateMachineArn = arn('stateMachine', this.stateMachineName);
    this.executionArns = arn('execution', `${this.stateMachineName}:*`);

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      // Step Functions adds each log group to the account's CloudWatch Logs
      // resource policy (5,120 characters max) unless its name starts with
      // /aws/vendedlogs/; hence a physical name.
      logGroupName: `/aws/vendedlogs/states/${this.stateMachineName}`,
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    });

    this.stateMachine = new sfn.StateMachine(this, 'Resource', {
      stateMachineName: this.stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromString(asl),
      definitionSubstitutions: props.substitutions,
      tracingEnabled: true,
      logs: {
        destination: this.logGroup,
        level: sfn.LogLevel.ALL,
        // Execution data would put task tokens (anyone reading the logs could
        // then answer a round), project replies and session metadata into the
        // logs. Every state change is persisted in DynamoDB anyway, so the
        // history without data is enough to debug; it is also cheaper.
        includeExecutionData: false,
      },
    });

    const role = this.stateMachine.role;
    if (props.continueAsNew) this.grantStartExecution(role);

    for (const fn of props.functions) {
      fn.grantInvoke(this.stateMachine);
      const logicalId = stack.getLogicalId(fn.node.defaultChild as lambda.CfnFunction);
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>:*]`,
        reason: `Versions of ${fn.node.path} only (its ARN plus ":*", as Lambda grantInvoke does)`,
      });
    }

    for (const pluginArn of props.invokeArns ?? []) {
      if (!LAMBDA_ARN.test(pluginArn)) {
        throw new Error(`invokeArns: "${pluginArn}" is not a Lambda function ARN`);
      }
      const qualified = pluginArn.split(':').length > 7;
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['lambda:InvokeFunction'],
          resources: qualified ? [pluginArn] : [pluginArn, `${pluginArn}:*`],
        }),
      );
      if (!qualified) {
        Validations.of(role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${pluginArn}:*]`,
          reason: `Configured plug-in ${pluginArn} and its versions only`,
        });
      }
    }

    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Log delivery (logs:CreateLogDelivery and the like) and X-Ray (xray:PutTraceSegments, GetSamplingRules ...) actions do not support resource-level permissions; CDK adds them for logging and tracing',
    });
  }

  /** `states:StartExecution` on this state machine. */
  grantStartExecution(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [this.stateMachineArn] }),
    );
  }

  /** `states:SendTask{Success,Failure,Heartbeat}` for tokens of this state machine. */
  grantTaskResponse(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
        resources: [this.stateMachineArn],
      }),
    );
  }

  /**
   * Execution-level actions (`states:StopExecution`, `states:DescribeExecution`
   * ...) on every execution of this state machine. `grantee` is the construct
   * that owns the policy (a ServiceFunction, a role): the `:*` is acknowledged
   * there.
   */
  grantExecution(grantee: iam.IGrantable & IConstruct, ...actions: string[]): void {
    grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources: [this.executionArns] }));
    Validations.of(grantee).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${this.stateMachineName}:*]`,
      reason: `Executions of ${this.node.path} only; their names are chosen at run time (one per session or host)`,
    });
  }

  /**
   * Lets this state machine run `child` with `states:startExecution.sync:2`:
   * start, describe, stop, and the managed EventBridge rule Step Functions
   * uses to learn that the child finished.
   */
  grantStartChildSync(child: Workflow): void {
    const role = this.stateMachine.role;
    child.grantStartExecution(role);
    child.grantExecution(role, 'states:DescribeExecution', 'states:StopExecution');
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [
          Stack.of(this).formatArn({
            service: 'events',
            resource: 'rule',
            resourceName: 'StepFunctionsGetEventsForStepFunctionsExecutionRule',
            arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
          }),
        ],
      }),
    );
  }
}

function checkSubstitutions(file: string, asl: string, substitutions: Record<string, string>): void {
  const used = findPlaceholders(asl);
  const given = Object.keys(substitutions);
  const missing = used.filter((name) => !given.includes(name));
  const unused = given.filter((name) => !used.includes(name));
  if (missing.length > 0) {
    throw new Error(
      `${file} uses placeholders with no substitution in CDK: ${missing.map((n) => `$\{${n}}`).join(', ')}`,
    );
  }
  if (unused.length > 0) {
    throw new Error(`substitutions not used by ${file}: ${unused.join(', ')}`);
  }
}
