import { allowOnly, operands, positiveNumber } from './args.js';
import type { Context } from './context.js';
import { UnreachableError } from './http.js';
import {
  clock,
  type Detail,
  describeHistory,
  duration,
  failureText,
  type HistoryEntry,
  historyKey,
  hostsMaintained,
  progressBar,
  rolloutLines,
  rolloutOf,
  roundText,
} from './render.js';
import { fetchView, type View } from './session.js';

/**
 * `fenix session watch <id>`: a live view. There is no event stream to subscribe to from a shell,
 * so it polls `GET …/detail` (every `--interval` seconds, default 1) and shows what changed: new
 * history entries as lines, and below them a status block — state, a progress bar over the hosts,
 * the rollout (hosts in flight against max_parallel_hosts with how long each has been at it, failed
 * hosts against max_failed_hosts, the hosts held back and why) and the round with the projects it
 * still waits on. On a terminal the
 * block is redrawn in place; piped, a status line is printed only when it changes. `--json` prints
 * one JSON object per line (history entries, status changes, the end). Exit 0 on MAINTENANCE_DONE,
 * 1 on MAINTENANCE_FAILED (the reason goes to stderr).
 */

const TERMINAL = new Set(['MAINTENANCE_DONE', 'MAINTENANCE_FAILED']);
/** Polls in a row that may fail (server restarting) before the watch gives up. */
const MAX_FAILED_POLLS = 30;
/** History shown when the watch starts on a session that is already under way. */
const BACKLOG = 15;

interface Status {
  state: string;
  done: number;
  failed: number;
  total: number;
  percent: number;
  /** The detail itself, for the rollout lines (drawn at each poll: their durations move). */
  detail?: Detail;
  round?: string;
  /** Before host work: when it may start. */
  startsAt?: string;
  failure?: string;
}

const statusOf = (view: View): Status => {
  if (view.kind === 'state')
    return {
      state: view.state.state,
      done: 0,
      failed: 0,
      total: 0,
      percent: view.state.state === 'MAINTENANCE_DONE' ? 100 : 0,
    };
  const detail: Detail = view.detail;
  const { done, failed, total } = hostsMaintained(detail);
  return {
    state: detail.session.state,
    done,
    failed,
    total,
    percent: detail.session.percent_done ?? Math.floor((100 * done) / Math.max(1, total)),
    detail,
    round: detail.round?.status === 'OPEN' ? roundText(detail.round) : undefined,
    startsAt:
      detail.session.state === 'MAINTENANCE' && detail.round?.status !== 'OPEN'
        ? detail.session.maintenance_at
        : undefined,
    failure: failureText(detail.session),
  };
};

export const watchSession = async (ctx: Context): Promise<number> => {
  allowOnly(ctx.args, 'session watch', ['interval']);
  const [id] = operands(ctx.args, 2, ['session_id'], 'session watch') as [string];
  const intervalMs = positiveNumber(ctx.args.values.interval, 'interval', 1) * 1000;
  const { io } = ctx;
  const tty = io.isTTY && !ctx.json;
  const started = Date.now();
  const seen = new Set<string>();
  let lastState: string | undefined;
  let lastStatusLine = '';
  let drawn = 0;
  let failedPolls = 0;
  let firstPoll = true;
  let interrupted = false;
  void io.interrupted?.then(() => (interrupted = true));

  const width = () => Math.max(40, (process.stdout.columns || 100) - 1);
  const fit = (line: string) => (line.length > width() ? `${line.slice(0, width() - 1)}…` : line);

  /** Prints `lines` above the status block and redraws the block (terminal), or appends (piped). */
  const emit = (lines: string[], block: string[]) => {
    if (tty) {
      let out = drawn > 0 ? `\x1b[${drawn}A\x1b[J` : '';
      for (const line of lines) out += `${line}\n`;
      const fitted = block.map(fit);
      for (const line of fitted) out += `${line}\n`;
      drawn = fitted.length;
      io.stdout(out);
    } else {
      for (const line of lines) io.stdout(`${line}\n`);
    }
  };

  const statusBlock = (status: Status, note?: string): string[] => {
    const hosts =
      status.total > 0
        ? `${progressBar(status.done, status.total, 24, tty)} ${status.done}/${status.total} hosts maintained${status.failed ? `, ${status.failed} failed` : ''} (${status.percent}%)`
        : undefined;
    const rollout = status.detail ? rolloutLines(status.detail, { now: Date.now(), live: tty }) : [];
    return [
      `${status.state}${tty ? `  · ${duration(Date.now() - started)}` : ''}${note ? `  · ${note}` : ''}`,
      ...(hosts ? [`  ${hosts}`] : []),
      ...rollout.map((line) => `  ${line}`),
      ...(status.round ? [`  round: ${status.round}`] : []),
      ...(status.startsAt ? [`  host work starts at ${clock(status.startsAt)} (maintenance_at)`] : []),
    ];
  };

  if (!ctx.json)
    emit([`watching session ${id} (every ${intervalMs / 1000} s; Ctrl-C stops watching, not the session)`], []);

  for (;;) {
    let view: View;
    try {
      view = await fetchView(ctx.api, id, { instances: false });
      failedPolls = 0;
    } catch (error) {
      if (!(error instanceof UnreachableError) || ++failedPolls > MAX_FAILED_POLLS) throw error;
      if (tty) emit([], [`${lastState ?? '?'}  · ${error.reason}, retrying (${failedPolls}/${MAX_FAILED_POLLS})`]);
      else if (failedPolls === 1) emit([`${error.message}, retrying`], []);
      await io.sleep(intervalMs);
      continue;
    }

    // New history entries (or, without the detail route, state changes).
    const fresh: HistoryEntry[] = [];
    if (view.kind === 'detail') {
      for (const entry of view.detail.history ?? []) {
        const key = historyKey(entry);
        if (!seen.has(key)) {
          seen.add(key);
          fresh.push(entry);
        }
      }
    } else if (view.state.state !== lastState) {
      fresh.push({ what: 'state', state: view.state.state, ...(lastState ? { previous_state: lastState } : {}) });
    }
    let shown = fresh;
    const lines: string[] = [];
    if (firstPoll && fresh.length > BACKLOG && !ctx.json) {
      lines.push(`… ${fresh.length - BACKLOG} earlier entries (fenix session show ${id})`);
      shown = fresh.slice(-BACKLOG);
    }
    const status = statusOf(view);
    if (ctx.json) {
      for (const entry of shown) io.stdout(`${JSON.stringify({ type: 'history', ...entry })}\n`);
      const rollout = status.detail ? rolloutOf(status.detail) : undefined;
      const statusLine = JSON.stringify({
        type: 'status',
        session_id: id,
        state: status.state,
        hosts_maintained: status.done,
        hosts_failed: status.failed,
        hosts: status.total,
        percent_done: status.percent,
        in_maintenance: (rollout?.inFlight ?? [])
          .filter((host) => host.phase === 'IN_MAINTENANCE')
          .map((host) => host.name),
        rollout: rollout?.limits ?? null,
        in_flight: (rollout?.inFlight ?? []).map(({ name, phase, started_at }) => ({
          name,
          phase,
          started_at: started_at ?? null,
        })),
        failed: (rollout?.failed ?? []).map(({ name, blocking_reason }) => ({
          name,
          reason: blocking_reason ?? null,
        })),
        held_back: rollout?.heldBack ?? [],
        round: status.round ?? null,
      });
      if (statusLine !== lastStatusLine) io.stdout(`${statusLine}\n`);
      lastStatusLine = statusLine;
    } else {
      lines.push(...shown.map((entry) => `${entry.at ? clock(entry.at) : '        '}  ${describeHistory(entry)}`));
      const block = statusBlock(status);
      if (tty) emit(lines, block);
      else {
        const statusLine = `[${block.map((line) => line.trim()).join(' | ')}]`;
        emit(statusLine === lastStatusLine ? lines : [...lines, statusLine], []);
        lastStatusLine = statusLine;
      }
    }
    lastState = status.state;
    firstPoll = false;

    if (TERMINAL.has(status.state)) {
      drawn = 0; // the last status block stays on screen
      const took = duration(Date.now() - started);
      if (status.state === 'MAINTENANCE_DONE') {
        if (ctx.json) io.stdout(`${JSON.stringify({ type: 'end', session_id: id, state: status.state })}\n`);
        else
          emit(
            [
              `MAINTENANCE_DONE${status.total ? `: ${status.done}/${status.total} hosts maintained` : ''} (watched ${took})`,
            ],
            [],
          );
        return 0;
      }
      const reason = status.failure ?? 'no reason recorded';
      if (ctx.json) io.stdout(`${JSON.stringify({ type: 'end', session_id: id, state: status.state, reason })}\n`);
      io.stderr(`fenix: session ${id} MAINTENANCE_FAILED: ${reason}\n`);
      return 1;
    }
    if (interrupted) return 130;
    await Promise.race([io.sleep(intervalMs), io.interrupted ?? new Promise(() => undefined)]);
    if (interrupted) {
      drawn = 0;
      if (!ctx.json) emit([`stopped watching; the session goes on (${lastState})`], []);
      return 130;
    }
  }
};
