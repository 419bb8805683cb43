import type { Deps } from './deps.js';
import type { HistoryEntry, SessionInstance } from './model.js';
import { projectPolicy, sessionPolicy } from './policy.js';
import { rolloutOf } from './rollout.js';
import { currentRound } from './rounds.js';
import { getSessionOrThrow } from './sessions.js';
import { toFenixTime } from './time.js';
import { percentDone } from './transitions.js';

export interface DetailPaging {
  instances_limit: number;
  instances_next?: string;
  history_limit: number;
  history_next?: string;
}

/**
 * `GET /v1/maintenance/{id}/detail`: everything an admin needs at 3 a.m. — the session, its hosts
 * (phase and why they wait or failed), its projects (the current round, who answered what and
 * when), its instances (action chosen, action done), every plug-in run, and the ordered history.
 * Instances and history can be long: they come a page at a time (`*_limit`, `*_next`).
 */
export const getSessionDetail = async (sessionId: string, paging: DetailPaging, deps: Deps) => {
  const session = await getSessionOrThrow(sessionId, deps);
  const [hosts, projects, round, pluginRuns, instances, history] = await Promise.all([
    deps.store.listHosts(sessionId),
    deps.store.listProjects(sessionId),
    currentRound(session, deps),
    deps.store.listPluginRuns(sessionId),
    deps.store.page<SessionInstance>(sessionId, 'instances', paging.instances_limit, paging.instances_next),
    deps.store.page<HistoryEntry>(sessionId, 'history', paging.history_limit, paging.history_next),
  ]);
  const members = round ? await deps.store.listMembers(sessionId, round.seq) : [];
  const memberOf = new Map(members.map((member) => [member.project_id, member]));
  const waiting = round?.status === 'OPEN';
  const failedHost = session.failure?.details?.host;

  return {
    session: {
      session_id: session.session_id,
      state: session.state,
      // The first transition (into MAINTENANCE) records no real previous state.
      previous_state:
        session.previous_state && !(session.previous_state === session.state && session.transition_seq === 1)
          ? session.previous_state
          : null,
      workflow: session.workflow,
      maintenance_at: toFenixTime(session.maintenance_at),
      metadata: session.metadata,
      actions: session.actions,
      ...(session.download ? { download: session.download } : {}),
      downloads: session.downloads ?? [],
      policy: sessionPolicy(session),
      rollout: rolloutOf(session),
      hosts_in_flight: [...(session.in_flight ?? [])].sort(),
      created_at: toFenixTime(session.created_at),
      updated_at: toFenixTime(session.updated_at),
      percent_done: percentDone(session),
      failure: session.failure?.reason ?? null,
      failure_details: session.failure?.details ?? null,
    },
    round: round
      ? {
          state: round.state,
          host: round.host ?? null,
          hosts: round.hosts ?? (round.host ? [round.host] : []),
          status: round.status,
          outcome: round.outcome ?? null,
          reply_at: toFenixTime(round.deadline),
          waiting_for: waiting ? members.filter((m) => m.status === 'EXPECTED').map((m) => m.project_id) : [],
        }
      : null,
    hosts: hosts.map((host) => ({
      name: host.name,
      type: host.type,
      phase: host.phase ?? (host.maintained ? 'MAINTAINED' : 'PENDING'),
      disabled: host.disabled,
      disabled_outside: host.disabled_before ?? null,
      maintained: host.maintained,
      started_at: host.started_at ? toFenixTime(host.started_at) : null,
      finished_at: host.finished_at ? toFenixTime(host.finished_at) : null,
      blocking_reason:
        host.blocking_reason ??
        (waiting && (round?.hosts ?? [round?.host]).includes(host.name)
          ? `waiting for ${round.state} replies from ${members
              .filter((m) => m.status === 'EXPECTED')
              .map((m) => m.project_id)
              .join(', ')}`
          : null) ??
        (failedHost === host.name ? (session.failure?.reason ?? null) : null),
    })),
    projects: projects.map((project) => {
      const member = memberOf.get(project.project_id);
      const policy = projectPolicy(session, project.project_id);
      return {
        project_id: project.project_id,
        instance_count: project.instance_count,
        round_state: member ? round?.state : null,
        reply: member?.reply_state ?? null,
        replied_at: member?.replied_at ? toFenixTime(member.replied_at) : null,
        replied_by: member?.replied_by ?? null,
        pending: Boolean(member && waiting && member.status === 'EXPECTED'),
        ...(member?.status === 'SILENT' ? { silent: true } : {}),
        interacting: project.interacting ?? false,
        silent_in: project.silent_in ?? null,
        policy: { on_no_reply: policy.on_no_reply, default_action: policy.default_action },
      };
    }),
    instances: instances.items.map((instance) => ({
      instance_id: instance.instance_id,
      name: instance.name,
      project_id: instance.project_id,
      host: instance.host,
      vcpus: instance.vcpus,
      action: instance.action ?? null,
      action_done: instance.action_done ?? false,
    })),
    instances_next: instances.next ?? null,
    plugin_runs: pluginRuns.map((run) => ({ ...run, at: toFenixTime(run.at) })),
    history: history.items.map((entry) => ({ ...entry, at: toFenixTime(entry.at) })),
    history_next: history.next ?? null,
  };
};
