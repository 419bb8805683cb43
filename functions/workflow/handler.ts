import * as z from 'zod';
import { awaitWake } from '../core/rollout.js';
import { ROUND_STATES, SESSION_STATES } from '../core/states.js';
import { errorText, failSession } from '../core/transitions.js';
import {
  afterRound,
  awaitRound,
  chooseNext,
  emptied,
  enter,
  expireRound,
  fetchDownloads,
  hostBegin,
  hostEnd,
  hostFailed,
  nextHost,
  pluginResult,
  pollActions,
  type Step,
  type WorkflowDeps,
} from '../core/workflow.js';
import { config } from '../shared/config.js';
import { defaultDeps } from '../shared/deps.js';
import { logger } from '../shared/observability.js';

/**
 * The one Lambda behind every task of the session and host state machines. The payload's `action`
 * names the step; the ASL passes only ids, and each step reads the session from DynamoDB.
 */
const base = { session_id: z.uuid() };
const errorInfo = z.object({ Error: z.string().optional(), Cause: z.string().optional() }).passthrough();
const hostFields = { host: z.string(), phase: z.enum(['pre', 'host', 'post']) };
const taskSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('download'), ...base }),
  z.object({ action: z.literal('enter'), ...base, state: z.enum(SESSION_STATES) }),
  z.object({ action: z.literal('await'), ...base, round_seq: z.number().int().positive(), token: z.string().min(1) }),
  z.object({ action: z.literal('expire'), ...base, round_seq: z.number().int().positive() }),
  z.object({ action: z.literal('after_round'), ...base, state: z.enum(ROUND_STATES) }),
  z.object({ action: z.literal('choose_next'), ...base }),
  z.object({
    action: z.literal('check_empty'),
    ...base,
    state: z.enum(['PREPARE_MAINTENANCE', 'PLANNED_MAINTENANCE']),
  }),
  z.object({
    action: z.literal('poll_actions'),
    ...base,
    state: z.enum(['PREPARE_MAINTENANCE', 'PLANNED_MAINTENANCE']),
  }),
  z.object({ action: z.literal('next_host'), ...base, started: z.boolean().optional() }),
  z.object({
    action: z.literal('await_wake'),
    ...base,
    token: z.string().min(1),
    wake_seq: z.number().int().min(0),
  }),
  z.object({ action: z.literal('host_begin'), ...base, ...hostFields }),
  z.object({
    action: z.literal('plugin_result'),
    ...base,
    ...hostFields,
    plugin: z.string(),
    outcome: z.record(z.string(), z.unknown()),
  }),
  z.object({ action: z.literal('host_end'), ...base, ...hostFields }),
  z.object({ action: z.literal('host_failed'), ...base, host: z.string(), error: errorInfo }),
  z.object({ action: z.literal('fail'), ...base, error: errorInfo }),
]);
export type WorkflowTask = z.infer<typeof taskSchema>;

export const workflowSettings = () => ({
  maxScaleInRounds: config.maxScaleInRounds,
  emptyCheckSeconds: config.emptyCheckSeconds,
  emptyCheckAttempts: config.emptyCheckAttempts,
  historyEvents: config.historyEvents,
  actionPollSeconds: config.actionPollSeconds,
  actionTimeoutSeconds: config.actionTimeoutSeconds,
  plugins: config.plugins,
});

export const runTask = async (task: WorkflowTask, deps: WorkflowDeps): Promise<Step> => {
  const id = task.session_id;
  switch (task.action) {
    case 'download':
      return fetchDownloads(id, deps);
    case 'enter':
      return enter(id, task.state, deps);
    case 'await':
      await awaitRound(id, task.round_seq, task.token, deps);
      return { next: 'WAITING' };
    case 'expire':
      return { next: 'EXPIRED', ...(await expireRound(id, task.round_seq, deps)) };
    case 'after_round':
      return afterRound(id, task.state, deps);
    case 'choose_next':
      return chooseNext(id, deps);
    case 'check_empty':
      return emptied(id, task.state, deps);
    case 'poll_actions':
      return pollActions(id, task.state, deps);
    case 'next_host':
      return nextHost(id, deps, task.started === true);
    case 'await_wake':
      await awaitWake(id, task.token, task.wake_seq, deps);
      return { next: 'WAITING' };
    case 'host_begin':
      return hostBegin(id, task.host, task.phase, deps);
    case 'plugin_result':
      return pluginResult(id, task.host, task.phase, task.plugin, task.outcome, deps);
    case 'host_end':
      return hostEnd(id, task.host, task.phase, deps);
    case 'host_failed':
      return hostFailed(id, task.host, task.error, deps);
    case 'fail':
      return failSession(id, `workflow error: ${errorText(task.error)}`, deps);
  }
};

/** Steps of the per-host executions; every other step belongs to the session execution. */
const HOST_STEPS = new Set(['host_begin', 'plugin_result', 'host_end']);

/**
 * Roughly how many history events the session execution's step used (the task's five, the Choice
 * after it, a Wait's two, a Map of child starts), kept on the session so `next_host` hands over to a
 * fresh execution well before Step Functions' 25,000 (FENIX_HISTORY_EVENTS).
 */
const countHistory = async (task: WorkflowTask, step: Step, deps: WorkflowDeps) => {
  if (HOST_STEPS.has(task.action) || (task.action === 'host_failed' && task.host)) return;
  const children = Array.isArray(step.children) ? step.children.length : 0;
  const events = 7 + (step.wait_seconds !== undefined ? 2 : 0) + (children ? 6 + 6 * children : 0);
  await deps.store.increment(task.session_id, 'execution_events', events);
};

export const makeHandler =
  (deps: WorkflowDeps) =>
  async (event: unknown): Promise<Step> => {
    const task = taskSchema.parse(event);
    logger.appendKeys({ session_id: task.session_id });
    try {
      const step = await runTask(task, deps);
      await countHistory(task, step, deps);
      logger.info('workflow step', { action: task.action, next: step.next });
      // Lines the stack's metric filters count: host maintenance duration and failed rounds.
      if (typeof step.host_duration_ms === 'number')
        logger.info('host maintained', {
          host: 'host' in task ? task.host : undefined,
          duration_ms: step.host_duration_ms,
        });
      if (task.action === 'after_round' && step.next === 'MAINTENANCE_FAILED')
        logger.warn('round failed', { state: task.state, reason: step.reason });
      return step;
    } catch (error) {
      // A session deleted while this step ran: its execution is stopped, so there is nobody to tell.
      if (!(await deps.store.getSession(task.session_id))) return { next: 'SESSION_DELETED' };
      throw error;
    } finally {
      // DELETE removes the session item first, then sweeps its partition. A step that was still
      // writing when the sweep ran finds the session gone here and sweeps what it wrote.
      if (!(await deps.store.getSession(task.session_id))) {
        await deps.store.deleteSession(task.session_id);
        await deps.artifacts.removeSession(task.session_id);
      }
      logger.removeKeys(['session_id']);
    }
  };

const productionDeps = (): WorkflowDeps => {
  const deps = defaultDeps() as WorkflowDeps;
  Object.defineProperty(deps, 'workflow', { get: workflowSettings, enumerable: true });
  return deps;
};

export const handler = makeHandler(productionDeps());
