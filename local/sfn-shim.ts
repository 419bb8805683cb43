import './polyfills.js';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { StateMachine } from 'aws-local-stepfunctions';
import { AwsError, type Operations } from './aws-json-server.js';

/** A Lambda function as the local runtime runs it: the same handler export Lambda would call. */
export type LocalFunction = (payload: unknown) => Promise<unknown>;

type Status = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';

interface Execution {
  arn: string;
  name: string;
  stateMachineArn: string;
  input: string;
  status: Status;
  startDate: Date;
  stopDate?: Date;
  output?: string;
  error?: string;
  cause?: string;
  abort: () => void;
  done: Promise<void>;
  children: Set<string>;
  /** History events as AWS would count them, for the benchmark (see countEvents). */
  historyEvents: number;
  /** Billed state transitions (states entered, retries included), for the benchmark. */
  transitions: number;
}

interface Waiter {
  executionArn: string;
  state: string;
  resolve: (output: unknown) => void;
  reject: (error: Error) => void;
}

const NAME = /^[A-Za-z0-9_.-]{1,80}$/;
const taskError = (name: string, message: string) => Object.assign(new Error(message), { name });

/**
 * Step Functions for the local runtime: the ASL files run unchanged in aws-local-stepfunctions,
 * behind the SFN JSON API the handlers call through AWS_ENDPOINT_URL_SFN. The library has no task
 * tokens, no service integrations and no notion of executions, so this class adds them:
 *   - `$$.Task.Token` through a context getter; `.waitForTaskToken` tasks park on the token until
 *     SendTaskSuccess/Failure; a token dies when its task leaves the state (timeout, retry, abort),
 *     after which SendTask* answers TaskTimedOut as AWS does;
 *   - `lambda:invoke` calls the local function registered under the FunctionName;
 *   - `states:startExecution(.sync:2)` starts (and awaits) another local execution;
 *   - StartExecution is idempotent by name; StopExecution aborts children too.
 * Executions live in memory: the runtime rebuilds in-flight sessions from DynamoDB on start.
 */
export class LocalStepFunctions {
  private readonly machines = new Map<
    string,
    { name: string; machine: StateMachine; definition: Record<string, unknown> }
  >();
  private readonly executions = new Map<string, Execution>();
  private readonly waiters = new Map<string, Waiter>();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly functions: Map<string, LocalFunction>,
    private readonly region = 'us-east-1',
    private readonly account = '000000000000',
  ) {}

  stateMachineArn(name: string): string {
    return `arn:aws:states:${this.region}:${this.account}:stateMachine:${name}`;
  }

  /** Loads an ASL file, replacing every `${Placeholder}`; a placeholder without a value is an error. */
  register(name: string, file: string | URL, substitutions: Record<string, string>): string {
    const raw = readFileSync(file, 'utf8').replace(/\$\{(\w+)\}/g, (_, key: string) => {
      const value = substitutions[key];
      if (value === undefined) throw new Error(`${String(file)}: no substitution for \${${key}}`);
      return value;
    });
    const definition = JSON.parse(raw) as Record<string, unknown>;
    rewriteTimeoutPaths(definition.States as Record<string, Record<string, unknown>>);
    const arn = this.stateMachineArn(name);
    this.machines.set(arn, {
      name,
      definition,
      machine: new StateMachine(definition as never, { validationOptions: { checkArn: false } }),
    });
    return arn;
  }

  get operations(): Operations {
    return {
      StartExecution: (input) =>
        this.startExecution(
          input.stateMachineArn as string,
          input.name as string | undefined,
          (input.input as string) ?? '{}',
        ),
      StopExecution: (input) => this.stopExecution(input.executionArn as string, input.cause as string | undefined),
      SendTaskSuccess: (input) => this.sendTaskResult(input.taskToken as string, { output: input.output as string }),
      SendTaskFailure: (input) =>
        this.sendTaskResult(input.taskToken as string, {
          error: (input.error as string) ?? 'TaskFailed',
          cause: (input.cause as string) ?? '',
        }),
      SendTaskHeartbeat: (input) => {
        if (!this.waiters.has(input.taskToken as string)) throw new AwsError('TaskTimedOut', 'Task Timed Out');
        return {};
      },
      DescribeExecution: (input) => this.describe(input.executionArn as string),
      ListExecutions: (input) => ({
        executions: [...this.executions.values()]
          .filter(
            (e) =>
              e.stateMachineArn === input.stateMachineArn && (!input.statusFilter || e.status === input.statusFilter),
          )
          .map((e) => ({
            executionArn: e.arn,
            stateMachineArn: e.stateMachineArn,
            name: e.name,
            status: e.status,
            startDate: e.startDate.getTime() / 1000,
          })),
      }),
    };
  }

  startExecution(stateMachineArn: string, name: string = randomUUID(), input = '{}', parent?: Execution) {
    const entry = this.machines.get(stateMachineArn);
    if (!entry) throw new AwsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
    if (!NAME.test(name)) throw new AwsError('InvalidName', `Invalid Name: '${name}'`);
    const arn = `arn:aws:states:${this.region}:${this.account}:execution:${entry.name}:${name}`;
    const existing = this.executions.get(arn);
    if (existing) {
      // AWS: same name and input while running is a no-op; anything else is ExecutionAlreadyExists.
      if (existing.status === 'RUNNING' && existing.input === input)
        return { executionArn: arn, startDate: existing.startDate.getTime() / 1000 };
      throw new AwsError('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`);
    }
    const parsedInput = JSON.parse(input) as Record<string, unknown>;
    const execution = {
      arn,
      name,
      stateMachineArn,
      input,
      status: 'RUNNING',
      startDate: new Date(),
      children: new Set(),
      historyEvents: 0,
      transitions: 0,
    } as unknown as Execution;
    const issueToken = () => `${name}.${randomUUID()}`;
    const run = entry.machine.run(parsedInput as never, {
      noThrowOnAbort: true,
      overrides: { taskResourceLocalHandlers: this.taskHandlers(entry.definition, execution) as never },
      context: {
        Execution: { Id: arn, Name: name, Input: parsedInput as never, StartTime: execution.startDate.toISOString() },
        StateMachine: { Id: stateMachineArn, Name: entry.name },
        Task: {
          get Token() {
            return issueToken();
          },
        },
      },
    });
    execution.abort = run.abort;
    this.executions.set(arn, execution);
    parent?.children.add(arn);
    void this.followHistory(execution, run.eventLogs);
    execution.done = run.result
      .then(
        (output) => {
          if (execution.status !== 'RUNNING') return;
          execution.status = 'SUCCEEDED';
          execution.output = JSON.stringify(output);
        },
        (error: Error & { cause?: { name?: string; message?: string } }) => {
          if (execution.status !== 'RUNNING') return;
          execution.status = error.name === 'ExecutionTimeoutError' ? 'TIMED_OUT' : 'FAILED';
          execution.error = error.cause?.name ?? error.name;
          execution.cause = error.cause?.message ?? error.message;
        },
      )
      .finally(() => {
        execution.stopDate ??= new Date();
        this.dropWaiters((w) => w.executionArn === arn);
        // Keep the summary, not the interpreter's run (its context and outputs): a session of a
        // thousand hosts leaves a thousand finished child executions behind.
        execution.abort = () => undefined;
      });
    return { executionArn: arn, startDate: execution.startDate.getTime() / 1000 };
  }

  async stopExecution(executionArn: string, cause?: string) {
    const execution = this.executions.get(executionArn);
    if (!execution) throw new AwsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    if (execution.status === 'RUNNING') {
      execution.status = 'ABORTED';
      execution.cause = cause;
      execution.stopDate = new Date();
      execution.abort();
      this.dropWaiters((w) => w.executionArn === executionArn);
      for (const child of execution.children)
        await this.stopExecution(child, 'parent execution stopped').catch(() => undefined);
    }
    return { stopDate: execution.stopDate?.getTime() ?? Date.now() / 1000 };
  }

  describe(executionArn: string) {
    const e = this.executions.get(executionArn);
    if (!e) throw new AwsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return {
      executionArn: e.arn,
      stateMachineArn: e.stateMachineArn,
      name: e.name,
      status: e.status,
      startDate: e.startDate.getTime() / 1000,
      ...(e.stopDate ? { stopDate: e.stopDate.getTime() / 1000 } : {}),
      input: e.input,
      ...(e.output !== undefined ? { output: e.output } : {}),
      ...(e.error ? { error: e.error } : {}),
      ...(e.cause ? { cause: e.cause } : {}),
    };
  }

  /** Every execution's status and history size (for tests and the benchmark). */
  list() {
    return [...this.executions.values()].map((e) => ({
      arn: e.arn,
      name: e.name,
      status: e.status,
      historyEvents: e.historyEvents,
      transitions: e.transitions,
    }));
  }

  /**
   * Resolves once no task handler is running: every execution is parked (on a token or a Wait) or
   * finished. Tests use it before comparing table dumps.
   */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Resolves once no execution is running (used on shutdown and by tests). */
  async idle(): Promise<void> {
    await Promise.all([...this.executions.values()].map((e) => e.done));
  }

  async stopAll(): Promise<void> {
    for (const execution of this.executions.values())
      if (execution.status === 'RUNNING') await this.stopExecution(execution.arn, 'runtime stopping');
  }

  private sendTaskResult(token: string, result: { output?: string } | { error: string; cause: string }) {
    const waiter = this.waiters.get(token);
    if (!waiter) throw new AwsError('TaskTimedOut', 'Task Timed Out: the token has expired or its task already closed');
    this.waiters.delete(token);
    if ('error' in result) waiter.reject(taskError(result.error, result.cause));
    else waiter.resolve(JSON.parse(result.output ?? 'null'));
    return {};
  }

  private dropWaiters(match: (waiter: Waiter) => boolean): void {
    for (const [token, waiter] of this.waiters) {
      if (!match(waiter)) continue;
      this.waiters.delete(token);
      waiter.reject(taskError('States.Aborted', 'task closed'));
    }
  }

  /**
   * Follows the library's event log: a token dies when its task leaves the state, and history
   * events are counted the way AWS bills them (Task ≈ 5 events, +1 for a callback; others 2).
   */
  private async followHistory(
    execution: Execution,
    events: AsyncGenerator<{ type: string; state?: { name: string } }>,
  ): Promise<void> {
    const definition = this.machines.get(execution.stateMachineArn)?.definition;
    const resources = collectTasks(definition?.States as Record<string, Record<string, unknown>>);
    for await (const event of events) {
      if (event.type === 'StateEntered' && event.state) {
        const resource = resources.get(event.state.name);
        execution.historyEvents += resource === undefined ? 2 : resource.endsWith('.waitForTaskToken') ? 6 : 5;
        execution.transitions += 1;
      } else if (event.type === 'StateRetried') {
        execution.historyEvents += 3;
        execution.transitions += 1;
      } else if (event.type.startsWith('Execution')) execution.historyEvents += 1;
      if (
        (event.type === 'StateExited' || event.type === 'StateFailed' || event.type === 'StateRetried') &&
        event.state
      ) {
        const state = event.state.name;
        this.dropWaiters((w) => w.executionArn === execution.arn && w.state === state);
      }
    }
  }

  private taskHandlers(definition: Record<string, unknown>, execution: Execution) {
    const handlers: Record<string, (input: never) => Promise<unknown>> = {};
    for (const [state, resource] of collectTasks(definition.States as Record<string, Record<string, unknown>>)) {
      handlers[state] = (input: {
        FunctionName?: string;
        Payload?: { token?: string };
        StateMachineArn?: string;
        Name?: string;
        Input?: unknown;
      }) => {
        const result = this.runTask(state, resource, input, execution);
        // The library may give up on the task before it awaits this promise (e.g. a bad path):
        // a later rejection must not become an unhandled one.
        result.catch(() => undefined);
        return result;
      };
    }
    return handlers;
  }

  private async runTask(
    state: string,
    resource: string,
    input: {
      FunctionName?: string;
      Payload?: { token?: string };
      StateMachineArn?: string;
      Name?: string;
      Input?: unknown;
    },
    execution: Execution,
  ): Promise<unknown> {
    switch (resource) {
      case 'arn:aws:states:::lambda:invoke':
        return { StatusCode: 200, Payload: await this.invoke(input.FunctionName, input.Payload) };
      case 'arn:aws:states:::lambda:invoke.waitForTaskToken': {
        const token = input.Payload?.token;
        if (!token) throw taskError('States.Runtime', `${state}: the Payload carries no token`);
        const parked = new Promise((resolve, reject) =>
          this.waiters.set(token, { executionArn: execution.arn, state, resolve, reject }),
        );
        parked.catch(() => undefined); // settled by whoever drops the waiter; avoid unhandled rejections
        await this.invoke(input.FunctionName, input.Payload);
        return parked;
      }
      case 'arn:aws:states:::states:startExecution':
      case 'arn:aws:states:::states:startExecution.sync:2': {
        const started = this.startExecution(
          input.StateMachineArn as string,
          input.Name,
          JSON.stringify(input.Input ?? {}),
          execution,
        );
        if (resource === 'arn:aws:states:::states:startExecution')
          return { ExecutionArn: started.executionArn, StartDate: new Date().toISOString() };
        const child = this.executions.get(started.executionArn) as Execution;
        await child.done;
        if (child.status !== 'SUCCEEDED')
          throw taskError('States.TaskFailed', JSON.stringify(this.describe(child.arn)));
        return { ...this.describe(child.arn), Output: JSON.parse(child.output ?? 'null') };
      }
      default:
        throw taskError('States.Runtime', `${state}: the local runtime does not emulate ${resource}`);
    }
  }

  private async invoke(functionName: string | undefined, payload: unknown): Promise<unknown> {
    const name = String(functionName ?? '').replace(/^arn:aws:lambda:[^:]+:[^:]+:function:/, '');
    const fn = this.functions.get(name);
    if (!fn) throw taskError('Lambda.ResourceNotFoundException', `Function not found: ${name}`);
    const call = fn(payload);
    this.inFlight.add(call);
    try {
      return await call;
    } catch (error) {
      // As Lambda reports a function error: the error type as Error, the details as Cause.
      const err = error instanceof Error ? error : new Error(String(error));
      // Lambda writes a function error to its log; so does the local runtime.
      console.error(
        JSON.stringify({
          level: 'ERROR',
          message: 'function error',
          function: name,
          error: err.name,
          cause: err.message,
          stack: err.stack,
        }),
      );
      throw taskError(err.name, JSON.stringify({ errorType: err.name, errorMessage: err.message }));
    } finally {
      this.inFlight.delete(call);
    }
  }
}

/**
 * AWS evaluates `TimeoutSecondsPath` against the state's input; aws-local-stepfunctions evaluates it
 * against the input after `Parameters`. So that one ASL works in both, a Task that passes the same
 * path in its Parameters (e.g. `"timeout_seconds.$": "$.step.data.timeout_seconds"` in the Payload)
 * gets its TimeoutSecondsPath pointed at that copy here.
 */
const rewriteTimeoutPaths = (states: Record<string, Record<string, unknown>> | undefined) => {
  for (const state of Object.values(states ?? {})) {
    const path = state.TimeoutSecondsPath;
    if (typeof path === 'string') {
      const copy = findPath(state.Parameters, path, '$');
      if (!copy) throw new Error(`TimeoutSecondsPath ${path} must also be passed in Parameters for the local runtime`);
      state.TimeoutSecondsPath = copy;
    }
    const processor = (state.ItemProcessor ?? state.Iterator) as
      | { States?: Record<string, Record<string, unknown>> }
      | undefined;
    if (processor) rewriteTimeoutPaths(processor.States);
  }
};

const findPath = (node: unknown, target: string, at: string): string | undefined => {
  if (typeof node !== 'object' || node === null) return undefined;
  for (const [key, value] of Object.entries(node)) {
    if (key.endsWith('.$') && value === target) return `${at}.${key.slice(0, -2)}`;
    const inner = findPath(value, target, `${at}.${key}`);
    if (inner) return inner;
  }
  return undefined;
};

/** State name → Resource of every Task, including those inside Map and Parallel states. */
const collectTasks = (
  states: Record<string, Record<string, unknown>> | undefined,
  into = new Map<string, string>(),
) => {
  for (const [name, state] of Object.entries(states ?? {})) {
    if (state.Type === 'Task') into.set(name, state.Resource as string);
    const processor = (state.ItemProcessor ?? state.Iterator) as
      | { States?: Record<string, Record<string, unknown>> }
      | undefined;
    if (processor) collectTasks(processor.States, into);
    for (const branch of (state.Branches as { States: Record<string, Record<string, unknown>> }[] | undefined) ?? [])
      collectTasks(branch.States, into);
  }
  return into;
};
