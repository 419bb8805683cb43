import { parseFenixTime } from '../functions/core/time.js';

/**
 * Human output: aligned tables, key/value blocks, the progress bar and one-line descriptions of
 * history entries. Pure functions from data to text; the commands decide where it goes.
 */

export type Cell = string | number | boolean | null | undefined;

const text = (cell: Cell): string =>
  cell === null || cell === undefined || cell === ''
    ? '-'
    : typeof cell === 'boolean'
      ? cell
        ? 'yes'
        : 'no'
      : String(cell);

/** Columns padded to their widest cell; the last column is not padded. */
export const table = (headers: string[], rows: Cell[][]): string => {
  const cells = [headers, ...rows.map((row) => row.map(text))];
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  return cells
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
};

/** `Key    value` lines, keys aligned; entries whose value is undefined are left out. */
export const keyValues = (entries: [string, Cell][]): string => {
  const shown = entries.filter(([, value]) => value !== undefined);
  const width = Math.max(...shown.map(([key]) => key.length));
  return shown.map(([key, value]) => `${key.padEnd(width)}  ${text(value)}`).join('\n');
};

export const section = (title: string, body: string): string => `\n${title}\n${body}`;

/** `[██████░░░░]` (or `[######....]` without a terminal). */
export const progressBar = (done: number, total: number, width = 24, unicode = true): string => {
  const ratio = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(ratio * width);
  const [full, empty] = unicode ? ['█', '░'] : ['#', '.'];
  return `[${full.repeat(filled)}${empty.repeat(width - filled)}]`;
};

/** The time part of a Fenix time "YYYY-MM-DD HH:MM:SS" (the date is noise in a live view). */
export const clock = (time: string | null | undefined): string => (time ? (time.split(' ')[1] ?? time) : '');

/** "8s", "2m05s", "1h02m". */
export const duration = (ms: number): string => {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60
    ? `${minutes}m${String(seconds % 60).padStart(2, '0')}s`
    : `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
};

/** "a, b, c and 7 more": a list that stays one short line however long it is. */
export const someNames = (names: string[], max = 3): string =>
  names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;

// ---------------------------------------------------------------- the detail view

/** The parts of `GET …/detail` the CLI reads (everything else is passed through by --json). */
export interface Detail {
  session: {
    session_id: string;
    state: string;
    previous_state?: string | null;
    workflow?: string;
    maintenance_at?: string;
    metadata?: Record<string, unknown>;
    actions?: { plugin: string; type: string; metadata?: Record<string, unknown> }[];
    created_at?: string;
    updated_at?: string;
    percent_done?: number;
    /** Why the session failed, one sentence; its data in `failure_details`. */
    failure?: string | null;
    failure_details?: Record<string, unknown> | null;
    rollout?: Rollout | null;
    policy?: {
      on_no_reply: string;
      default_action: string;
      projects?: Record<string, { interacting?: boolean; on_no_reply?: string; default_action?: string }>;
    };
    downloads?: {
      url: string;
      name: string;
      sha256?: string | null;
      size?: number;
      status: string;
      location?: string | null;
      error?: string;
    }[];
  };
  /** Where the rollout limits may also sit (read by {@link rolloutOf}, wherever the server puts them). */
  rollout?: Rollout | null;
  round?: {
    state: string;
    host?: string | null;
    /** Every host the round empties (a rollout drains several at once). */
    hosts?: string[] | null;
    status: string;
    outcome?: string | null;
    reply_at?: string;
    waiting_for?: string[];
  } | null;
  hosts?: {
    name: string;
    type?: string;
    phase?: string;
    disabled?: boolean;
    disabled_outside?: string | null;
    maintained?: boolean;
    started_at?: string | null;
    finished_at?: string | null;
    blocking_reason?: string | null;
  }[];
  projects?: {
    project_id: string;
    instance_count?: number;
    round_state?: string | null;
    reply?: string | null;
    replied_at?: string | null;
    replied_by?: string | null;
    pending?: boolean;
    silent?: boolean;
    interacting?: boolean;
    silent_in?: string | null;
    policy?: { on_no_reply: string; default_action: string };
  }[];
  instances?: {
    instance_id: string;
    name?: string;
    project_id?: string;
    host?: string;
    vcpus?: number;
    action?: string | null;
    action_done?: boolean;
  }[];
  plugin_runs?: { plugin: string; phase?: string; host?: string; state: string; message?: string; at?: string }[];
  history?: HistoryEntry[];
  instances_next?: string | null;
  history_next?: string | null;
}

/** The session's rollout limits (DESIGN §12). */
export interface Rollout {
  max_parallel_hosts: number;
  max_failed_hosts: number;
}

export type DetailHost = NonNullable<Detail['hosts']>[number];

export interface HistoryEntry {
  at?: string;
  seq?: number;
  /** What happened: state, host, notification, instance_action_done, reply. */
  what?: string;
  state?: string;
  previous_state?: string;
  host?: string;
  project_id?: string;
  instance_ids?: string[];
  reply_at?: string;
  replied_by?: string;
  reply?: string;
  instance_actions?: Record<string, string>;
  reason?: string;
  /** A notification to a project the session does not wait for. */
  informed?: boolean;
}

/** A stable identity for a history entry (a retried step rewrites the same one). */
export const historyKey = (entry: HistoryEntry): string =>
  [
    entry.seq,
    entry.what,
    entry.project_id ?? '',
    entry.host ?? '',
    entry.instance_ids?.join(',') ?? '',
    // Several downloads share their step's seq; their reasons tell them apart.
    entry.what === 'download' ? (entry.reason ?? '') : '',
  ].join('|');

const actionsText = (actions: Record<string, string> | undefined): string => {
  const entries = Object.entries(actions ?? {});
  if (entries.length === 0) return '';
  const counts = new Map<string, number>();
  for (const [, action] of entries) counts.set(action, (counts.get(action) ?? 0) + 1);
  return ` (${[...counts].map(([action, count]) => `${count} × ${action}`).join(', ')})`;
};

/** One line of history in words. */
export const describeHistory = (entry: HistoryEntry): string => {
  const reason = entry.reason ? `: ${entry.reason}` : '';
  switch (entry.what) {
    case 'state':
      return `session ${entry.previous_state ? `${entry.previous_state} → ` : ''}${entry.state}${reason}`;
    case 'host':
      return `host ${entry.host} ${entry.state}${reason}`;
    case 'notification':
      return entry.informed
        ? `told ${entry.project_id} of ${entry.state} (not waited for: its instances get the default action)`
        : `asked ${entry.project_id} to answer ${entry.state}${entry.reply_at ? ` by ${clock(entry.reply_at)}` : ''}${reason}`;
    case 'instance_action_done':
      return `${entry.project_id}: ${entry.instance_ids?.join(', ') ?? 'instance'} moved (INSTANCE_ACTION_DONE)${reason}`;
    case 'reply':
      return `${entry.project_id} replied ${entry.reply}${actionsText(entry.instance_actions)}${entry.replied_by ? ` [${entry.replied_by}]` : ''}${reason}`;
    case 'silent':
    case 'download':
      return entry.reason ?? `${entry.what} ${entry.project_id ?? ''}`.trim();
    default:
      return `${entry.what ?? 'event'} ${entry.state ?? ''}${reason}`.trim();
  }
};

export const hostsMaintained = (detail: Detail): { done: number; failed: number; total: number } => {
  const hosts = detail.hosts ?? [];
  return {
    done: hosts.filter((host) => host.maintained).length,
    failed: hosts.filter((host) => host.phase === 'FAILED').length,
    total: hosts.length,
  };
};

/** "PLANNED_MAINTENANCE on compute-2, waiting for vnf-a, vnf-b (reply by 12:00:21)". */
export const roundText = (round: Detail['round']): string | undefined => {
  if (!round) return undefined;
  const hosts = round.hosts?.length ? round.hosts : round.host ? [round.host] : [];
  const where = hosts.length ? ` on ${someNames(hosts)}` : '';
  if (round.status === 'OPEN') {
    const waiting = round.waiting_for?.length ? `waiting for ${round.waiting_for.join(', ')}` : 'all replies in';
    return `${round.state}${where}, ${waiting}${round.reply_at ? ` (reply by ${clock(round.reply_at)})` : ''}`;
  }
  return `${round.state}${where}, closed${round.outcome ? ` (${round.outcome})` : ''}`;
};

// ---------------------------------------------------------------- the rollout

/** Hosts being emptied or maintained (DESIGN §12). */
const IN_FLIGHT = new Set(['DRAINING', 'IN_MAINTENANCE']);
const HELD_BACK = /^held back:\s*/;

export interface RolloutView {
  /** The limits, when the server reports them. */
  limits?: Rollout;
  /** Oldest first. */
  inFlight: DetailHost[];
  failed: DetailHost[];
  /** PENDING hosts that cannot start now, by reason ("no room", a group's budget), largest group first. */
  heldBack: { reason: string; hosts: string[] }[];
}

const startedMs = (host: DetailHost) => (host.started_at ? (parseFenixTime(host.started_at)?.getTime() ?? 0) : 0);

export const rolloutOf = (detail: Detail): RolloutView => {
  const hosts = detail.hosts ?? [];
  const limits = detail.session.rollout ?? detail.rollout ?? undefined;
  const groups = new Map<string, string[]>();
  for (const host of hosts) {
    if (host.phase !== 'PENDING' || !host.blocking_reason) continue;
    const reason = host.blocking_reason.replace(HELD_BACK, '');
    groups.set(reason, [...(groups.get(reason) ?? []), host.name]);
  }
  return {
    ...(limits ? { limits } : {}),
    inFlight: hosts.filter((host) => IN_FLIGHT.has(host.phase ?? '')).sort((a, b) => startedMs(a) - startedMs(b)),
    failed: hosts.filter((host) => host.phase === 'FAILED'),
    heldBack: [...groups]
      .map(([reason, names]) => ({ reason, hosts: names }))
      .sort((a, b) => b.hosts.length - a.hosts.length),
  };
};

/** "in flight 3/3, failed 0/1" (the counts alone when the limits are not known). */
export const rolloutText = ({ limits, inFlight, failed }: RolloutView): string =>
  limits
    ? `in flight ${inFlight.length}/${limits.max_parallel_hosts}, failed ${failed.length}/${limits.max_failed_hosts}`
    : `in flight ${inFlight.length}${failed.length ? `, failed ${failed.length}` : ''}`;

/** Lines kept short: past these, the rest is counted and `session show` has it all. */
const MAX_IN_FLIGHT_LINES = 10;
const MAX_REASON_LINES = 3;

/**
 * The rollout as a few lines for the live view, or none when no host is in flight, failed or held
 * back. `live`: one line per host in flight with how long it has been at it (a terminal redraws
 * them); otherwise one line for them all with the time each started, so that the text changes only
 * when the rollout does (a piped watch prints it again only then).
 */
export const rolloutLines = (detail: Detail, options: { now: number; live: boolean }): string[] => {
  const view = rolloutOf(detail);
  const { inFlight, failed, heldBack } = view;
  if (!inFlight.length && !failed.length && !heldBack.length) return [];
  const lines: string[] = [];
  const since = (host: DetailHost) =>
    host.started_at ? (options.live ? duration(options.now - startedMs(host)) : `since ${clock(host.started_at)}`) : '';
  if (options.live) {
    lines.push(rolloutText(view));
    const shown = inFlight.slice(0, MAX_IN_FLIGHT_LINES);
    const nameWidth = Math.max(0, ...shown.map((host) => host.name.length));
    const phaseWidth = Math.max(0, ...shown.map((host) => (host.phase ?? '').length));
    for (const host of shown)
      lines.push(
        `  ${host.name.padEnd(nameWidth)}  ${(host.phase ?? '').padEnd(phaseWidth)}  ${since(host)}`.trimEnd(),
      );
    if (inFlight.length > shown.length) lines.push(`  … and ${inFlight.length - shown.length} more`);
  } else {
    lines.push(
      `${rolloutText(view)}${inFlight.length ? `: ${inFlight.map((host) => `${host.name} ${host.phase} ${since(host)}`.trimEnd()).join(', ')}` : ''}`,
    );
  }
  for (const host of failed.slice(0, MAX_REASON_LINES))
    lines.push(`failed: ${host.name}${host.blocking_reason ? `: ${host.blocking_reason}` : ''}`);
  if (failed.length > MAX_REASON_LINES) lines.push(`failed: … and ${failed.length - MAX_REASON_LINES} more hosts`);
  for (const group of heldBack.slice(0, MAX_REASON_LINES))
    lines.push(
      `held back: ${group.reason} (${group.hosts.length === 1 ? '' : `${group.hosts.length} hosts: `}${someNames(group.hosts)})`,
    );
  if (heldBack.length > MAX_REASON_LINES) {
    const rest = heldBack.slice(MAX_REASON_LINES).reduce((sum, group) => sum + group.hosts.length, 0);
    lines.push(`held back: … and ${rest} more hosts for ${heldBack.length - MAX_REASON_LINES} other reasons`);
  }
  return lines;
};

/** The failure sentence, with its details as data. */
export const failureText = ({ failure, failure_details: details }: Detail['session']): string | undefined =>
  failure ? `${failure}${details && Object.keys(details).length ? ` ${JSON.stringify(details)}` : ''}` : undefined;

/** `session show`: the whole detail as tables. */
export const renderDetail = (detail: Detail): string => {
  const { session } = detail;
  const { done, failed, total } = hostsMaintained(detail);
  const rollout = rolloutOf(detail);
  const parts: string[] = [
    keyValues([
      ['Session', session.session_id],
      [
        'State',
        `${session.state}${session.previous_state && session.previous_state !== session.state ? ` (from ${session.previous_state})` : ''}`,
      ],
      [
        'Progress',
        `${progressBar(done, total, 20, false)} ${done}/${total} hosts maintained${failed ? `, ${failed} failed` : ''} (${session.percent_done ?? Math.floor((100 * done) / Math.max(1, total))}%)`,
      ],
      ['Failure', failureText(session)],
      [
        'Rollout',
        rollout.limits
          ? `max_parallel_hosts ${rollout.limits.max_parallel_hosts}, max_failed_hosts ${rollout.limits.max_failed_hosts}; ${rolloutText(rollout)}${
              rollout.heldBack.length
                ? `, held back ${rollout.heldBack.reduce((sum, group) => sum + group.hosts.length, 0)}`
                : ''
            }`
          : undefined,
      ],
      ['Round', roundText(detail.round)],
      ['Workflow', session.workflow],
      ['Maintenance at', session.maintenance_at],
      ['Created', session.created_at],
      ['Updated', session.updated_at],
      [
        'Metadata',
        session.metadata && Object.keys(session.metadata).length ? JSON.stringify(session.metadata) : undefined,
      ],
      ['Actions', session.actions?.length ? session.actions.map((a) => `${a.plugin}:${a.type}`).join(', ') : undefined],
      [
        'Policy',
        session.policy
          ? `on_no_reply ${session.policy.on_no_reply}, default_action ${session.policy.default_action}${
              Object.keys(session.policy.projects ?? {}).length
                ? `; overrides ${JSON.stringify(session.policy.projects)}`
                : ''
            }`
          : undefined,
      ],
    ]),
  ];
  if (session.downloads?.length) {
    parts.push(
      section(
        'DOWNLOADS',
        table(
          ['NAME', 'STATUS', 'SIZE', 'SHA256', 'LOCATION / ERROR'],
          session.downloads.map((d) => [
            d.name,
            d.status,
            d.size,
            d.sha256 ? d.sha256.slice(0, 12) : undefined,
            d.error ?? d.location,
          ]),
        ),
      ),
    );
  }
  if (detail.hosts?.length) {
    parts.push(
      section(
        'HOSTS',
        table(
          ['NAME', 'TYPE', 'PHASE', 'DISABLED', 'MAINTAINED', 'STARTED', 'FINISHED', 'BLOCKING'],
          detail.hosts.map((h) => [
            h.name,
            h.type,
            h.phase,
            h.disabled_outside ? `yes (${h.disabled_outside})` : h.disabled,
            h.maintained,
            clock(h.started_at),
            clock(h.finished_at),
            h.blocking_reason,
          ]),
        ),
      ),
    );
  }
  if (detail.projects?.length) {
    parts.push(
      section(
        'PROJECTS',
        table(
          [
            'PROJECT',
            'INSTANCES',
            'INTERACTING',
            'SILENT IN',
            'ON NO REPLY',
            'ROUND',
            'REPLY',
            'REPLIED',
            'BY',
            'PENDING',
          ],
          detail.projects.map((p) => [
            p.project_id,
            p.instance_count,
            p.interacting,
            p.silent_in,
            p.policy ? `${p.policy.on_no_reply === 'FAIL' ? 'FAIL' : p.policy.default_action}` : undefined,
            p.round_state,
            p.silent ? 'SILENT' : p.reply,
            clock(p.replied_at),
            p.replied_by,
            p.pending,
          ]),
        ),
      ),
    );
  }
  if (detail.instances?.length) {
    parts.push(
      section(
        'INSTANCES',
        table(
          ['INSTANCE', 'NAME', 'PROJECT', 'HOST', 'VCPUS', 'ACTION', 'DONE'],
          detail.instances.map((i) => [
            i.instance_id,
            i.name,
            i.project_id,
            i.host,
            i.vcpus,
            i.action,
            i.action ? i.action_done : undefined,
          ]),
        ),
      ),
    );
  }
  if (detail.plugin_runs?.length) {
    parts.push(
      section(
        'PLUG-IN RUNS',
        table(
          ['PLUGIN', 'PHASE', 'HOST', 'STATE', 'AT', 'MESSAGE'],
          detail.plugin_runs.map((r) => [r.plugin, r.phase, r.host, r.state, clock(r.at), r.message]),
        ),
      ),
    );
  }
  if (detail.history?.length) {
    parts.push(
      section(
        'HISTORY',
        table(
          ['SEQ', 'AT', 'WHAT'],
          detail.history.map((entry) => [entry.seq, clock(entry.at), describeHistory(entry)]),
        ),
      ),
    );
  }
  return parts.join('\n');
};
