// Generates statemachines/session.asl.json: the five reply rounds share one shape, and writing
// them out by hand invites drift between copies. Run `node scripts/gen-asl.mjs` after editing.
import { writeFileSync } from 'node:fs';

const fn = '${WorkflowFunctionArn}';
const retry = [
  {
    ErrorEquals: [
      'Lambda.ServiceException',
      'Lambda.AWSLambdaException',
      'Lambda.SdkClientException',
      'Lambda.TooManyRequestsException',
    ],
    IntervalSeconds: 1,
    MaxAttempts: 4,
    BackoffRate: 2,
  },
  { ErrorEquals: ['States.TaskFailed'], IntervalSeconds: 1, MaxAttempts: 2, BackoffRate: 2 },
];
const catchAll = [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RecordFailure' }];

/** A workflow-Lambda task whose result lands in $.step. */
const task = (action, extra, next) => ({
  Type: 'Task',
  Resource: 'arn:aws:states:::lambda:invoke',
  Parameters: { FunctionName: fn, Payload: { action, 'session_id.$': '$.session_id', ...extra } },
  ResultSelector: { 'next.$': '$.Payload.next', 'data.$': '$.Payload' },
  ResultPath: '$.step',
  Retry: retry,
  Catch: catchAll,
  Next: next,
});

/** A Choice on $.step.next; `routes` maps a `next` value to a state name. */
const choice = (routes) => ({
  Type: 'Choice',
  Choices: Object.entries(routes).map(([value, Next]) => ({ Variable: '$.step.next', StringEquals: value, Next })),
  Default: 'UnexpectedStep',
});

const states = {};
const names = {
  MAINTENANCE: 'Maintenance',
  SCALE_IN: 'ScaleIn',
  PREPARE_MAINTENANCE: 'PrepareMaintenance',
  PLANNED_MAINTENANCE: 'PlannedMaintenance',
  MAINTENANCE_COMPLETE: 'MaintenanceComplete',
};
const nextStates = {
  START_MAINTENANCE: 'EnterStartMaintenance',
  SCALE_IN: 'EnterScaleIn',
  PREPARE_MAINTENANCE: 'EnterPrepareMaintenance',
  PLANNED_MAINTENANCE: 'EnterPlannedMaintenance',
  MAINTENANCE_COMPLETE: 'EnterMaintenanceComplete',
  MAINTENANCE_DONE: 'MaintenanceDone',
  MAINTENANCE_FAILED: 'MaintenanceFailed',
};

/** What may follow each round (the transition table of the Fenix default workflow). */
const afterRound = {
  MAINTENANCE: { WAIT_UNTIL: 'WaitForMaintenanceAt', MAINTENANCE_FAILED: 'MaintenanceFailed' },
  SCALE_IN: pick('START_MAINTENANCE', 'SCALE_IN', 'PREPARE_MAINTENANCE', 'MAINTENANCE_FAILED'),
  PREPARE_MAINTENANCE: {
    ...pick('START_MAINTENANCE', 'SCALE_IN', 'MAINTENANCE_FAILED'),
    WAIT_ACTIONS: 'WaitPrepareMaintenanceActions',
    WAIT_REPLIES: 'AwaitPrepareMaintenanceInstanceReplies',
    WAIT_EMPTY: 'WaitPrepareMaintenanceHostEmpty',
  },
  PLANNED_MAINTENANCE: {
    ...pick('START_MAINTENANCE', 'MAINTENANCE_FAILED'),
    WAIT_ACTIONS: 'WaitPlannedMaintenanceActions',
    WAIT_REPLIES: 'AwaitPlannedMaintenanceInstanceReplies',
    WAIT_EMPTY: 'WaitPlannedMaintenanceHostEmpty',
  },
  MAINTENANCE_COMPLETE: pick('MAINTENANCE_DONE', 'MAINTENANCE_FAILED'),
};
function pick(...keys) {
  return Object.fromEntries(keys.map((key) => [key, nextStates[key]]));
}

for (const [state, name] of Object.entries(names)) {
  states[`Enter${name}`] = task('enter', { state }, `Open${name}Round`);
  states[`Open${name}Round`] = choice({
    AWAIT: `Await${name}Replies`,
    SKIP: `${name}Replied`,
    MAINTENANCE_FAILED: 'MaintenanceFailed',
  });
  states[`Await${name}Replies`] = {
    Type: 'Task',
    Comment: 'Publishes the notifications and parks until the round is decided or its deadline passes.',
    Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
    Parameters: {
      FunctionName: fn,
      Payload: {
        action: 'await',
        'session_id.$': '$.session_id',
        'round_seq.$': '$.step.data.round_seq',
        'token.$': '$$.Task.Token',
        // Unused by the Lambda; lets the local runtime read the timeout (see local/sfn-shim.ts).
        'timeout_seconds.$': '$.step.data.timeout_seconds',
      },
    },
    TimeoutSecondsPath: '$.step.data.timeout_seconds',
    ResultPath: null,
    Retry: retry,
    Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: null, Next: `Expire${name}Round` }, ...catchAll],
    Next: `${name}Replied`,
  };
  states[`Expire${name}Round`] = task('expire', { 'round_seq.$': '$.step.data.round_seq' }, `${name}Replied`);
  states[`${name}Replied`] = task('after_round', { state }, `After${name}`);
  states[`After${name}`] = choice(afterRound[state]);
}

/**
 * Parks the execution until something it waits for happens (rollout.ts `wake`: a host ended, an
 * instance replied) or $.step.data.wait_seconds pass; either way it goes on to `next`.
 */
const awaitWake = (comment, next) => ({
  Type: 'Task',
  Comment: comment,
  Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
  Parameters: {
    FunctionName: fn,
    Payload: {
      action: 'await_wake',
      'session_id.$': '$.session_id',
      'token.$': '$$.Task.Token',
      'wake_seq.$': '$.step.data.wake_seq',
      // Unused by the Lambda; lets the local runtime read the timeout (see local/sfn-shim.ts).
      'timeout_seconds.$': '$.step.data.wait_seconds',
    },
  },
  TimeoutSecondsPath: '$.step.data.wait_seconds',
  ResultPath: null,
  Retry: retry,
  Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: null, Next: next }, ...catchAll],
  Next: next,
});

// After a host round: the instance actions, which the cloud carries out asynchronously, are polled
// from Wait states (never a Lambda that sleeps; FENIX_ACTION_POLL_SECONDS / _TIMEOUT_SECONDS), then
// the host is checked until empty (OWN_ACTION). In `vnf`, a round waiting for instance replies parks
// until a reply wakes it.
for (const state of ['PREPARE_MAINTENANCE', 'PLANNED_MAINTENANCE']) {
  const name = names[state];
  states[`Await${name}InstanceReplies`] = awaitWake(
    'vnf: parks until an instance reply, a reply_at or a recovery time, then carries the round on.',
    `Poll${name}Actions`,
  );
  for (const [wait, step, action] of [
    ['Actions', `Poll${name}Actions`, 'poll_actions'],
    ['HostEmpty', `Check${name}HostEmpty`, 'check_empty'],
  ]) {
    states[`Wait${name}${wait}`] = { Type: 'Wait', SecondsPath: '$.step.data.wait_seconds', Next: step };
    states[step] = task(action, { state }, `After${name}`);
  }
}

Object.assign(states, {
  FetchDownloads: task('download', {}, 'AfterDownloads'),
  AfterDownloads: choice({ CONTINUE: 'EnterMaintenance', MAINTENANCE_FAILED: 'MaintenanceFailed' }),
  WaitForMaintenanceAt: {
    Type: 'Wait',
    Comment: 'No host is touched before maintenance_at.',
    TimestampPath: '$.step.data.until',
    Next: 'ChooseNextState',
  },
  ChooseNextState: task('choose_next', {}, 'AfterChooseNextState'),
  AfterChooseNextState: choice(pick('START_MAINTENANCE', 'SCALE_IN', 'PREPARE_MAINTENANCE', 'MAINTENANCE_FAILED')),
  // Entering START_MAINTENANCE also takes the rollout's first decision (it answers as NextHost does).
  EnterStartMaintenance: task('enter', { state: 'START_MAINTENANCE' }, 'AfterNextHost'),
  NextHost: task('next_host', {}, 'AfterNextHost'),
  AfterNextHost: choice({
    START_HOSTS: 'StartHosts',
    WAIT_HOSTS: 'AwaitHosts',
    MAINTAIN_HOST: 'MaintainHost',
    CONTINUE_AS_NEW: 'ContinueAsNew',
    ...pick('PLANNED_MAINTENANCE', 'MAINTENANCE_COMPLETE', 'MAINTENANCE_FAILED'),
  }),
  StartHosts: {
    Type: 'Map',
    Comment:
      'Starts one execution per host the rollout let go (they run on their own and wake this one when they end).',
    ItemsPath: '$.step.data.children',
    ItemSelector: { 'session_id.$': '$.session_id', 'child.$': '$$.Map.Item.Value' },
    ItemProcessor: {
      ProcessorConfig: { Mode: 'INLINE' },
      StartAt: 'StartHost',
      States: {
        StartHost: {
          Type: 'Task',
          Resource: 'arn:aws:states:::states:startExecution',
          Parameters: {
            StateMachineArn: '${HostStateMachineArn}',
            'Name.$': '$.child.execution_name',
            Input: {
              'session_id.$': '$.session_id',
              'host.$': '$.child.host',
              'phase.$': '$.child.phase',
              'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$': '$$.Execution.Id',
            },
          },
          Retry: [
            {
              ErrorEquals: [
                'StepFunctions.SdkClientException',
                'StepFunctions.StepFunctionsException',
                'States.TaskFailed',
              ],
              IntervalSeconds: 1,
              MaxAttempts: 4,
              BackoffRate: 2,
            },
          ],
          End: true,
        },
      },
    },
    ResultPath: null,
    Catch: catchAll,
    Next: 'NextHostAfterStart',
  },
  NextHostAfterStart: task('next_host', { started: true }, 'AfterNextHost'),
  AwaitHosts: awaitWake(
    'Parks until a host in flight ends (or a minute passes), then fills the freed slots.',
    'NextHost',
  ),
  MaintainHost: {
    Type: 'Task',
    Comment: 'The pre and post plug-in phases, each as a child execution this one waits for.',
    Resource: 'arn:aws:states:::states:startExecution.sync:2',
    Parameters: {
      StateMachineArn: '${HostStateMachineArn}',
      'Name.$': '$.step.data.execution_name',
      Input: {
        'session_id.$': '$.session_id',
        'host.$': '$.step.data.host',
        'phase.$': '$.step.data.phase',
        'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$': '$$.Execution.Id',
      },
    },
    ResultPath: null,
    Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'HostFailed' }],
    Next: 'NextHost',
  },
  HostFailed: task('host_failed', { 'host.$': '$.step.data.host', 'error.$': '$.error' }, 'MaintenanceFailed'),
  ContinueAsNew: {
    Type: 'Task',
    Comment: 'Hands the session to a fresh execution before this history grows large.',
    Resource: 'arn:aws:states:::states:startExecution',
    Parameters: {
      'StateMachineArn.$': '$$.StateMachine.Id',
      'Name.$': '$.step.data.execution_name',
      Input: { 'session_id.$': '$.session_id', 'resume_from.$': '$.step.data.resume_from' },
    },
    ResultPath: null,
    Catch: catchAll,
    End: true,
  },
  MaintenanceDone: { Type: 'Succeed' },
  RecordFailure: task('fail', { 'error.$': '$.error' }, 'MaintenanceFailed'),
  UnexpectedStep: {
    Type: 'Pass',
    Parameters: { Error: 'UnexpectedStep', 'Cause.$': 'States.JsonToString($.step)' },
    ResultPath: '$.error',
    Next: 'RecordFailure',
  },
  MaintenanceFailed: {
    Type: 'Fail',
    Error: 'MaintenanceFailed',
    Cause: 'The session is MAINTENANCE_FAILED; GET /v1/maintenance/{session_id}/detail says why.',
  },
});
// RecordFailure must not loop into itself when recording fails.
states.RecordFailure.Catch = [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'MaintenanceFailed' }];

const resumable = [
  'SCALE_IN',
  'PREPARE_MAINTENANCE',
  'START_MAINTENANCE',
  'PLANNED_MAINTENANCE',
  'MAINTENANCE_COMPLETE',
];
const session = {
  Comment: 'Fenix default workflow: one execution per session (resumed executions start at $.resume_from).',
  StartAt: 'Route',
  States: {
    Route: {
      Type: 'Choice',
      Choices: resumable.map((state) => ({
        And: [
          { Variable: '$.resume_from', IsPresent: true },
          { Variable: '$.resume_from', StringEquals: state },
        ],
        Next: nextStates[state],
      })),
      // A new session (or one continued from MAINTENANCE) first fetches its downloads.
      Default: 'FetchDownloads',
    },
    ...states,
  },
};

/**
 * The per-host child: IN_MAINTENANCE, the action plug-ins in order, MAINTENANCE_COMPLETE, enable. A
 * failure anywhere is recorded by HostFailed (the host fails alone; a pre/post phase fails the session).
 */
const hostCatch = [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'HostFailed' }];
const hostTask = (action, extra, next) => ({
  ...task(action, { 'host.$': '$.host', 'phase.$': '$.phase', ...extra }, next),
  Catch: hostCatch,
});
const host = {
  Comment: 'Fenix host maintenance: one execution per host (or per pre/post plug-in phase).',
  StartAt: 'BeginHost',
  States: {
    BeginHost: hostTask('host_begin', {}, 'RunPlugins'),
    RunPlugins: {
      Type: 'Map',
      Comment: 'Plug-ins run one at a time, in the order host_begin returned.',
      ItemsPath: '$.step.data.plugins',
      MaxConcurrency: 1,
      ItemSelector: {
        'session_id.$': '$.session_id',
        'host.$': '$.host',
        'phase.$': '$.phase',
        'plugin.$': '$$.Map.Item.Value',
      },
      ItemProcessor: {
        ProcessorConfig: { Mode: 'INLINE' },
        StartAt: 'InvokePlugin',
        States: {
          InvokePlugin: {
            Type: 'Task',
            Resource: 'arn:aws:states:::lambda:invoke',
            Parameters: { 'FunctionName.$': '$.plugin.function_name', 'Payload.$': '$.plugin.payload' },
            ResultSelector: { 'result.$': '$.Payload' },
            ResultPath: '$.outcome',
            Retry: [retry[0]],
            Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.outcome', Next: 'RecordPlugin' }],
            Next: 'RecordPlugin',
          },
          RecordPlugin: {
            ...hostTask(
              'plugin_result',
              { 'plugin.$': '$.plugin.payload.plugin', 'outcome.$': '$.outcome' },
              'PluginSucceeded?',
            ),
            Catch: undefined,
          },
          'PluginSucceeded?': {
            Type: 'Choice',
            Choices: [{ Variable: '$.step.next', StringEquals: 'DONE', Next: 'PluginDone' }],
            Default: 'PluginFailed',
          },
          PluginDone: { Type: 'Succeed' },
          PluginFailed: { Type: 'Fail', Error: 'PluginFailed', Cause: 'An action plug-in reported FAILED or threw.' },
        },
      },
      ResultPath: null,
      Catch: hostCatch,
      Next: 'EndHost',
    },
    EndHost: { ...hostTask('host_end', {}, undefined), Next: undefined, End: true },
    HostFailed: {
      ...task('host_failed', { 'host.$': '$.host', 'error.$': '$.error' }, 'HostFailedEnd'),
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.recording_error', Next: 'HostFailedEnd' }],
    },
    HostFailedEnd: {
      Type: 'Fail',
      Error: 'HostFailed',
      Cause: 'The host is FAILED; GET /v1/maintenance/{session_id}/detail says why.',
    },
  },
};

const clean = (value) => JSON.parse(JSON.stringify(value));
writeFileSync(
  new URL('../statemachines/session.asl.json', import.meta.url),
  `${JSON.stringify(clean(session), null, 2)}\n`,
);
writeFileSync(new URL('../statemachines/host.asl.json', import.meta.url), `${JSON.stringify(clean(host), null, 2)}\n`);
console.log('wrote statemachines/session.asl.json and statemachines/host.asl.json');
