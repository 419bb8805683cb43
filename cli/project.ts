import { ROUND_STATES } from '../functions/core/states.js';
import { allowOnly, operands, parseInstanceAction, UsageError } from './args.js';
import { type Context, printJson } from './context.js';
import { ApiError } from './http.js';

/** `fenix project instances|reply`: what a VNFM does, by hand. */

const projectPath = (session: string, project: string) =>
  `/v1/maintenance/${encodeURIComponent(session)}/${encodeURIComponent(project)}`;

const instanceIds = async (ctx: Context, session: string, project: string): Promise<string[]> =>
  (await ctx.api.request<{ instance_ids: string[] }>('GET', projectPath(session, project), { role: { project } }))
    .instance_ids;

export const projectInstances = async (ctx: Context): Promise<number> => {
  allowOnly(ctx.args, 'project instances', []);
  const [session, project] = operands(ctx.args, 2, ['session_id', 'project_id'], 'project instances') as [
    string,
    string,
  ];
  const ids = await instanceIds(ctx, session, project);
  if (ctx.json) printJson(ctx.io, { instance_ids: ids });
  else ctx.io.stdout(ids.length ? `${ids.join('\n')}\n` : `no instances of ${project} concerned now\n`);
  return 0;
};

/**
 * `project reply <s> <p> --ack|--nack [--action <instance>=<ACTION> …] [--state S]`: the state answered
 * is the session's current one (GET /v1/maintenance/{s}, an admin call) unless `--state` names it.
 * `--action '*=MIGRATE'` asks for that action for every instance the round concerns.
 */
export const projectReply = async (ctx: Context): Promise<number> => {
  const { args } = ctx;
  allowOnly(args, 'project reply', ['ack', 'nack', 'action', 'state']);
  const [session, project] = operands(args, 2, ['session_id', 'project_id'], 'project reply') as [string, string];
  if (Boolean(args.values.ack) === Boolean(args.values.nack))
    throw new UsageError('project reply needs exactly one of --ack and --nack');
  const verdict = args.values.ack ? 'ACK' : 'NACK';

  let state = args.values.state?.toUpperCase().replace(/^(ACK|NACK)_/, '');
  if (!state) {
    try {
      state = (await ctx.api.request<{ state: string }>('GET', `/v1/maintenance/${encodeURIComponent(session)}`)).state;
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) {
        throw new ApiError(
          403,
          error.code,
          `${error.apiMessage}; with a project token, name the state answered with --state <STATE>`,
          error.body,
        );
      }
      throw error;
    }
    if (!(ROUND_STATES as readonly string[]).includes(state))
      throw new UsageError(
        `session ${session} is in ${state}, which takes no reply (replies answer ${ROUND_STATES.join(', ')})`,
      );
  }

  const instance_actions: Record<string, string> = {};
  for (const text of args.values.action ?? []) {
    const [instance, action] = parseInstanceAction(text);
    if (instance === '*') {
      for (const id of await instanceIds(ctx, session, project)) instance_actions[id] = action;
    } else instance_actions[instance] = action;
  }
  const body = { state: `${verdict}_${state}`, ...(Object.keys(instance_actions).length ? { instance_actions } : {}) };
  const answer = await ctx.api.request('PUT', projectPath(session, project), { body, role: { project } });
  if (ctx.json) printJson(ctx.io, answer ?? {});
  else {
    const count = Object.keys(instance_actions).length;
    ctx.io.stdout(
      `${project} replied ${body.state} in session ${session}${count ? ` with ${count} instance action${count > 1 ? 's' : ''}` : ''}\n`,
    );
  }
  return 0;
};
