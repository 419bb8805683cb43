import {
  allowOnly,
  hostList,
  operands,
  parseAt,
  parseDownload,
  parseJsonObject,
  parsePluginAction,
  policyOptions,
  rolloutOptions,
  UsageError,
} from './args.js';
import { type Context, printJson } from './context.js';
import { type Api, ApiError } from './http.js';
import { type Detail, keyValues, renderDetail, table } from './render.js';

/** `fenix session create|list|show|continue|delete`. */

const sessionPath = (id: string) => `/v1/maintenance/${encodeURIComponent(id)}`;

export const createSession = async (ctx: Context): Promise<number> => {
  const { args } = ctx;
  allowOnly(args, 'session create', [
    'host',
    'at',
    'workflow',
    'metadata',
    'action',
    'idempotency-key',
    'policy',
    'on-no-reply',
    'default-action',
    'download',
    'parallel',
    'max-failed',
  ]);
  operands(args, 2, [], 'session create');
  const { values } = args;
  const body: Record<string, unknown> = {
    state: 'MAINTENANCE',
    maintenance_at: parseAt(values.at ?? '+60s'),
    hosts: hostList(values.host),
  };
  if (values.workflow !== undefined) body.workflow = values.workflow;
  if (values.metadata !== undefined) body.metadata = parseJsonObject(values.metadata, 'metadata');
  if (values.action?.length) body.actions = values.action.map(parsePluginAction);
  const policy = policyOptions(values);
  if (policy) body.policy = policy;
  if (values.download?.length) body.download = values.download.map(parseDownload);
  const rollout = rolloutOptions(values);
  if (rollout) body.rollout = rollout;
  const key = values['idempotency-key'];
  const created = await ctx.api.request<{ session_id: string }>('POST', '/v1/maintenance', {
    body,
    ...(key ? { headers: { 'idempotency-key': key } } : {}),
  });
  if (ctx.json) printJson(ctx.io, created);
  else ctx.io.stdout(`${created.session_id}\n`);
  return 0;
};

/** Sessions with their states (one GET per session, a few at a time). */
export const listSessions = async (ctx: Context): Promise<number> => {
  allowOnly(ctx.args, 'session list', []);
  operands(ctx.args, 2, [], 'session list');
  const { session_id: ids } = await ctx.api.request<{ session_id: string[] }>('GET', '/v1/maintenance');
  const sessions: { session_id: string; state: string }[] = [];
  for (let i = 0; i < ids.length; i += 8) {
    const batch = await Promise.all(
      ids.slice(i, i + 8).map(async (id) => {
        try {
          return await ctx.api.request<{ session_id: string; state: string }>('GET', sessionPath(id));
        } catch (error) {
          if (error instanceof ApiError && error.status === 404) return undefined; // deleted meanwhile
          throw error;
        }
      }),
    );
    sessions.push(...batch.filter((s): s is { session_id: string; state: string } => s !== undefined));
  }
  if (ctx.json) printJson(ctx.io, { sessions });
  else if (sessions.length === 0) ctx.io.stdout('no sessions\n');
  else
    ctx.io.stdout(
      `${table(
        ['SESSION', 'STATE'],
        sessions.map((s) => [s.session_id, s.state]),
      )}\n`,
    );
  return 0;
};

export type View = { kind: 'detail'; detail: Detail } | { kind: 'state'; state: { session_id: string; state: string } };

/**
 * The session as `GET …/detail` shows it, every page of instances and history merged; a server
 * without the detail route (404/405/501 there, while the session exists) gives the plain state.
 */
export const fetchView = async (api: Api, id: string, options: { instances?: boolean } = {}): Promise<View> => {
  const wantInstancesAtAll = options.instances ?? true;
  try {
    let page = await api.request<Detail>('GET', `${sessionPath(id)}/detail`);
    const first = page;
    const instances = wantInstancesAtAll ? [...(page.instances ?? [])] : [];
    const history = [...(page.history ?? [])];
    let wantInstances = wantInstancesAtAll && Boolean(page.instances_next);
    let wantHistory = Boolean(page.history_next);
    for (let pages = 1; (wantInstances || wantHistory) && pages < 1000; pages++) {
      page = await api.request<Detail>('GET', `${sessionPath(id)}/detail`, {
        query: {
          instances_limit: wantInstances ? 1000 : 1,
          instances_next: wantInstances ? (page.instances_next ?? undefined) : undefined,
          history_limit: wantHistory ? 1000 : 1,
          history_next: wantHistory ? (page.history_next ?? undefined) : undefined,
        },
      });
      if (wantInstances) instances.push(...(page.instances ?? []));
      if (wantHistory) history.push(...(page.history ?? []));
      wantInstances = wantInstances && Boolean(page.instances_next);
      wantHistory = wantHistory && Boolean(page.history_next);
    }
    return { kind: 'detail', detail: { ...first, instances, history, instances_next: null, history_next: null } };
  } catch (error) {
    if (!(error instanceof ApiError) || ![404, 405, 501].includes(error.status)) throw error;
    // No detail route here (or no such session: then this GET says so).
    return { kind: 'state', state: await api.request('GET', sessionPath(id)) };
  }
};

export const showSession = async (ctx: Context): Promise<number> => {
  allowOnly(ctx.args, 'session show', []);
  const [id] = operands(ctx.args, 2, ['session_id'], 'session show') as [string];
  const view = await fetchView(ctx.api, id);
  if (ctx.json) printJson(ctx.io, view.kind === 'detail' ? view.detail : view.state);
  else if (view.kind === 'detail') ctx.io.stdout(`${renderDetail(view.detail)}\n`);
  else
    ctx.io.stdout(
      `${keyValues([
        ['Session', view.state.session_id],
        ['State', view.state.state],
        ['Detail', 'not served by this API (GET …/detail)'],
      ])}\n`,
    );
  return 0;
};

export const continueSession = async (ctx: Context): Promise<number> => {
  const { args } = ctx;
  allowOnly(args, 'session continue', ['state', 'at', 'metadata']);
  const [id] = operands(args, 2, ['session_id'], 'session continue') as [string];
  if (!args.values.state) throw new UsageError('session continue needs --state <STATE> (the state to continue from)');
  const body: Record<string, unknown> = { state: args.values.state.toUpperCase() };
  if (args.values.at !== undefined) body.maintenance_at = parseAt(args.values.at);
  if (args.values.metadata !== undefined) body.metadata = parseJsonObject(args.values.metadata, 'metadata');
  const answer = await ctx.api.request('PUT', sessionPath(id), { body });
  if (ctx.json) printJson(ctx.io, answer ?? {});
  else ctx.io.stdout(`session ${id} continues from ${body.state as string}\n`);
  return 0;
};

export const deleteSession = async (ctx: Context): Promise<number> => {
  allowOnly(ctx.args, 'session delete', []);
  const [id] = operands(ctx.args, 2, ['session_id'], 'session delete') as [string];
  const answer = await ctx.api.request('DELETE', sessionPath(id));
  if (ctx.json) printJson(ctx.io, answer ?? {});
  else ctx.io.stdout(`deleted session ${id}\n`);
  return 0;
};
