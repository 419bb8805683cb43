import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Io } from '../../cli/context.js';
import { run } from '../../cli/main.js';
import { type Detail, duration, renderDetail, rolloutLines, rolloutOf, someNames } from '../../cli/render.js';
import { toFenixTime } from '../../functions/core/time.js';
import { FAST_ENV, fenixTimeIn, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

/**
 * The CLI's view of a parallel rollout (DESIGN §12): hosts in flight with how long, failed hosts
 * with why, held-back hosts grouped by reason, the limits. The detail documents are fixtures served
 * by a stand-in API, so every case is exact and fast; the last case watches a real rollout on the
 * local runtime, with the dummy plug-in taking time and failing on one host.
 */

const ID = '11111111-2222-4333-8444-555555555555';
const NOW = Date.now();
const ago = (seconds: number) => toFenixTime(new Date(NOW - seconds * 1000));

const host = (name: string, phase: string, extra: Partial<NonNullable<Detail['hosts']>[number]> = {}) => ({
  name,
  type: 'compute',
  phase,
  disabled: phase !== 'PENDING',
  maintained: phase === 'MAINTAINED',
  started_at: null,
  finished_at: null,
  blocking_reason: null,
  ...extra,
});

const FAILED_REASON = 'dummy: failed on compute-07 after 3 s as asked (metadata.fail_hosts)';

/** A session in the middle of a rollout of 12 hosts, 3 at a time, 1 failure allowed. */
const midRollout = (state = 'PLANNED_MAINTENANCE'): Detail => ({
  session: {
    session_id: ID,
    state,
    previous_state: 'START_MAINTENANCE',
    workflow: 'default',
    maintenance_at: ago(60),
    percent_done: 33,
    rollout: { max_parallel_hosts: 3, max_failed_hosts: 1 },
    failure: null,
    failure_details: null,
  },
  round: {
    state: 'PLANNED_MAINTENANCE',
    host: 'compute-05',
    hosts: ['compute-05', 'compute-06'],
    status: 'OPEN',
    outcome: null,
    reply_at: ago(-20),
    waiting_for: ['vnf-a'],
  },
  hosts: [
    host('compute-01', 'MAINTAINED', { started_at: ago(50), finished_at: ago(40) }),
    host('compute-02', 'MAINTAINED', { started_at: ago(50), finished_at: ago(38) }),
    host('compute-03', 'MAINTAINED', { started_at: ago(49), finished_at: ago(37) }),
    host('compute-04', 'IN_MAINTENANCE', { started_at: ago(8) }),
    host('compute-05', 'DRAINING', { started_at: ago(3), blocking_reason: 'waiting for PLANNED replies from vnf-a' }),
    host('compute-06', 'DRAINING', { started_at: ago(1) }),
    host('compute-07', 'FAILED', { started_at: ago(30), finished_at: ago(20), blocking_reason: FAILED_REASON }),
    host('compute-08', 'PENDING', { blocking_reason: 'held back: no room' }),
    host('compute-09', 'PENDING', { blocking_reason: 'held back: no room' }),
    host('compute-10', 'PENDING', { blocking_reason: 'held back: no room' }),
    host('compute-11', 'PENDING', { blocking_reason: 'held back: no room' }),
    host('compute-12', 'PENDING', {
      blocking_reason: 'held back: group ha-grp has 1 of max_impacted_members 1 impacted',
    }),
  ],
  projects: [],
  instances: [],
  plugin_runs: [
    { plugin: 'dummy', phase: 'host', host: 'compute-07', state: 'FAILED', message: FAILED_REASON, at: ago(20) },
  ],
  history: [
    { seq: 10, at: ago(30), what: 'host', host: 'compute-07', state: 'IN_MAINTENANCE' },
    { seq: 11, at: ago(20), what: 'host', host: 'compute-07', state: 'MAINTENANCE_FAILED', reason: FAILED_REASON },
  ],
  instances_next: null,
  history_next: null,
});

const failedAtEnd = (): Detail => {
  const detail = midRollout('MAINTENANCE_FAILED');
  return {
    ...detail,
    session: {
      ...detail.session,
      failure: 'host compute-07 failed: dummy: failed on compute-07 after 3 s as asked (metadata.fail_hosts)',
      failure_details: { hosts: ['compute-07'] },
    },
    round: null,
    hosts: (detail.hosts ?? []).map((h) =>
      ['IN_MAINTENANCE', 'DRAINING'].includes(h.phase ?? '')
        ? { ...h, phase: 'MAINTAINED', maintained: true, disabled: false, blocking_reason: null, finished_at: ago(0) }
        : h.phase === 'PENDING'
          ? { ...h, blocking_reason: 'held back: 1 of max_failed_hosts 1 hosts failed' }
          : h,
    ),
  };
};

// ------------------------------------------------------------------ a stand-in API serving fixtures

let server: Server;
let url = '';
/** The detail documents the next GETs answer, the last one repeated. */
let script: Detail[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    const detail = script.length > 1 ? script.shift() : script[0];
    if (!request.url?.startsWith(`/v1/maintenance/${ID}/detail`) || !detail)
      return void response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(detail));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

/** The CLI against the stand-in (polls without waiting), or with `env` against another server (real waits). */
const fenix = async (args: string[], tty = false, env?: Record<string, string>) => {
  let out = '';
  let err = '';
  const io: Io = {
    stdout: (text) => (out += text),
    stderr: (text) => (err += text),
    env: env ?? { FENIX_URL: url, FENIX_TOKEN: 'fixture' },
    isTTY: tty,
    sleep: env ? (ms) => new Promise((resolve) => setTimeout(resolve, ms)) : async () => undefined,
  };
  const code = await run(args, io);
  return { code, out, err };
};

// ------------------------------------------------------------------ pure rendering

describe('rollout rendering', () => {
  it('formats durations and long name lists', () => {
    expect(duration(8_400)).toBe('8s');
    expect(duration(125_000)).toBe('2m05s');
    expect(duration(3_720_000)).toBe('1h02m');
    expect(someNames(['a', 'b'])).toBe('a, b');
    expect(someNames(['a', 'b', 'c', 'd', 'e'])).toBe('a, b, c and 2 more');
  });

  it('sorts hosts into in flight (oldest first), failed and held back by reason', () => {
    const view = rolloutOf(midRollout());
    expect(view.limits).toEqual({ max_parallel_hosts: 3, max_failed_hosts: 1 });
    expect(view.inFlight.map((h) => h.name)).toEqual(['compute-04', 'compute-05', 'compute-06']);
    expect(view.failed.map((h) => h.name)).toEqual(['compute-07']);
    expect(view.heldBack).toEqual([
      { reason: 'no room', hosts: ['compute-08', 'compute-09', 'compute-10', 'compute-11'] },
      { reason: 'group ha-grp has 1 of max_impacted_members 1 impacted', hosts: ['compute-12'] },
    ]);
  });

  it('live: one line per host in flight with how long; piped: one line with when each started', () => {
    expect(rolloutLines(midRollout(), { now: NOW, live: true })).toEqual([
      'in flight 3/3, failed 1/1',
      '  compute-04  IN_MAINTENANCE  8s',
      '  compute-05  DRAINING        3s',
      '  compute-06  DRAINING        1s',
      `failed: compute-07: ${FAILED_REASON}`,
      'held back: no room (4 hosts: compute-08, compute-09, compute-10 and 1 more)',
      'held back: group ha-grp has 1 of max_impacted_members 1 impacted (compute-12)',
    ]);
    const [first] = rolloutLines(midRollout(), { now: NOW, live: false });
    expect(first).toBe(
      `in flight 3/3, failed 1/1: compute-04 IN_MAINTENANCE since ${ago(8).slice(11)}, compute-05 DRAINING since ${ago(3).slice(11)}, compute-06 DRAINING since ${ago(1).slice(11)}`,
    );
  });

  it('says nothing when no host is in flight, failed or held back', () => {
    const idle = { ...midRollout(), hosts: [host('compute-01', 'PENDING'), host('compute-02', 'MAINTAINED')] };
    expect(rolloutLines(idle, { now: NOW, live: true })).toEqual([]);
  });

  it('keeps a large rollout short', () => {
    const many: Detail = {
      ...midRollout(),
      session: { ...midRollout().session, rollout: { max_parallel_hosts: 20, max_failed_hosts: 0 } },
      hosts: [
        ...Array.from({ length: 14 }, (_, i) => host(`c-${i}`, 'DRAINING', { started_at: ago(30 - i) })),
        ...Array.from({ length: 5 }, (_, i) =>
          host(`p-${i}`, 'PENDING', { blocking_reason: `held back: reason ${i}` }),
        ),
      ],
    };
    const lines = rolloutLines(many, { now: NOW, live: true });
    expect(lines[0]).toBe('in flight 14/20, failed 0/0');
    expect(lines.filter((line) => line.startsWith('  c-'))).toHaveLength(10);
    expect(lines).toContain('  … and 4 more');
    expect(lines.filter((line) => line.startsWith('held back: reason'))).toHaveLength(3);
    expect(lines.at(-1)).toBe('held back: … and 2 more hosts for 2 other reasons');
  });

  it('session show: the limits, failed hosts in the progress, phases and reasons in HOSTS', () => {
    const text = renderDetail(midRollout());
    expect(text).toMatch(/^Progress +\[#+\.+\] 3\/12 hosts maintained, 1 failed \(33%\)$/m);
    expect(text).toMatch(
      /^Rollout +max_parallel_hosts 3, max_failed_hosts 1; in flight 3\/3, failed 1\/1, held back 5$/m,
    );
    expect(text).toMatch(/^Round +PLANNED_MAINTENANCE on compute-05, compute-06, waiting for vnf-a/m);
    const row = (name: string) => text.split('\n').find((line) => line.startsWith(`${name} `));
    expect(row('compute-07')).toMatch(/^compute-07 +compute +FAILED +yes +no +\S+ +\S+ +dummy: failed on compute-07/);
    expect(row('compute-05')).toMatch(/ DRAINING .* waiting for PLANNED replies from vnf-a$/);
    expect(row('compute-12')).toMatch(/ PENDING .* held back: group ha-grp has 1 of max_impacted_members 1 impacted$/);
    expect(text).toContain(`host compute-07 MAINTENANCE_FAILED: ${FAILED_REASON}`);
  });

  it('session show without rollout in the detail has no Rollout line', () => {
    const { rollout: _, ...session } = midRollout().session;
    expect(renderDetail({ ...midRollout(), session })).not.toMatch(/^Rollout/m);
  });
});

// ------------------------------------------------------------------ the watch

describe('session watch over a rollout', () => {
  it('piped: the rollout in the status line, then exit 1 naming the failed host', async () => {
    script = [midRollout(), failedAtEnd()];
    const result = await fenix(['session', 'watch', ID, '--interval', '0.1']);
    expect(result.code).toBe(1);
    expect(result.out).toContain(`host compute-07 MAINTENANCE_FAILED: ${FAILED_REASON}`);
    expect(result.out).toContain(
      `[PLANNED_MAINTENANCE | [######..................] 3/12 hosts maintained, 1 failed (33%) | in flight 3/3, failed 1/1: compute-04 IN_MAINTENANCE since ${ago(8).slice(11)}, compute-05 DRAINING since ${ago(3).slice(11)}, compute-06 DRAINING since ${ago(1).slice(11)} | failed: compute-07: ${FAILED_REASON} | held back: no room (4 hosts: compute-08, compute-09, compute-10 and 1 more) | held back: group ha-grp has 1 of max_impacted_members 1 impacted (compute-12) | round: PLANNED_MAINTENANCE on compute-05, compute-06, waiting for vnf-a (reply by ${ago(-20).slice(11)})]`,
    );
    expect(result.out).toContain(
      '[MAINTENANCE_FAILED | [############............] 6/12 hosts maintained, 1 failed (33%) | in flight 0/3, failed 1/1 | failed: compute-07',
    );
    expect(result.out).toContain('held back: 1 of max_failed_hosts 1 hosts failed (5 hosts: compute-08');
    expect(result.err).toBe(
      `fenix: session ${ID} MAINTENANCE_FAILED: host compute-07 failed: ${FAILED_REASON} {"hosts":["compute-07"]}\n`,
    );
  });

  it('on a terminal: one line per host in flight, with how long', async () => {
    script = [midRollout(), failedAtEnd()];
    const result = await fenix(['session', 'watch', ID, '--interval', '0.1'], true);
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/ {2}in flight 3\/3, failed 1\/1\n {4}compute-04 {2}IN_MAINTENANCE {2}\d+s\n/);
    expect(result.out).toMatch(/ {4}compute-06 {2}DRAINING {8}\d+s\n/);
    expect(result.out).toContain('  held back: no room (4 hosts: compute-08, compute-09, compute-10 and 1 more)\n');
  });

  it('--json: the rollout in each status object', async () => {
    script = [midRollout(), failedAtEnd()];
    const result = await fenix(['session', 'watch', ID, '--json']);
    const statuses = result.out
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .filter((entry) => entry.type === 'status');
    expect(statuses[0]).toMatchObject({
      state: 'PLANNED_MAINTENANCE',
      hosts_maintained: 3,
      hosts_failed: 1,
      in_maintenance: ['compute-04'],
      rollout: { max_parallel_hosts: 3, max_failed_hosts: 1 },
      in_flight: [
        { name: 'compute-04', phase: 'IN_MAINTENANCE', started_at: ago(8) },
        { name: 'compute-05', phase: 'DRAINING', started_at: ago(3) },
        { name: 'compute-06', phase: 'DRAINING', started_at: ago(1) },
      ],
      failed: [{ name: 'compute-07', reason: FAILED_REASON }],
      held_back: [
        { reason: 'no room', hosts: ['compute-08', 'compute-09', 'compute-10', 'compute-11'] },
        { reason: 'group ha-grp has 1 of max_impacted_members 1 impacted', hosts: ['compute-12'] },
      ],
    });
    expect(statuses.at(-1)).toMatchObject({ state: 'MAINTENANCE_FAILED', in_flight: [], hosts_failed: 1 });
  });
});

describe('session watch on the local runtime', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime({
      inventory: { hosts: ['r-1', 'r-2', 'r-3', 'r-4'].map((name) => ({ name, type: 'compute', vcpus: 4 })) },
      env: { ...FAST_ENV, FENIX_PROJECT_MAINTENANCE_REPLY: '1' },
    });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('2 hosts at a time, the dummy plug-in failing on r-2: in flight, failed, exit 1 naming it', async () => {
    const created = await t.api('POST', '/v1/maintenance', {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(3),
      hosts: ['r-1', 'r-2', 'r-3', 'r-4'],
      actions: [{ plugin: 'dummy', type: 'compute', metadata: { seconds: 1, fail_hosts: ['r-2'] } }],
      rollout: { max_parallel_hosts: 2, max_failed_hosts: 1 },
    });
    expect(created.status).toBe(200);
    const id = created.body.session_id as string;
    const env = { FENIX_URL: t.url, FENIX_DATA_DIR: t.runtime.dataDir };
    const watched = await fenix(['session', 'watch', id, '--interval', '0.2'], false, env);
    expect(watched.code).toBe(1);
    expect(watched.out).toMatch(
      /\| in flight 2\/2, failed 0\/1: r-1 (DRAINING|IN_MAINTENANCE) since \d\d:\d\d:\d\d, r-2 (DRAINING|IN_MAINTENANCE) since/,
    );
    expect(watched.out).toContain(
      'host r-2 MAINTENANCE_FAILED: plug-in dummy failed on r-2: dummy: failed on r-2 after 1 s as asked (metadata.fail_hosts)',
    );
    expect(watched.out).toMatch(
      /\[MAINTENANCE_FAILED \| \[#{18}\.{6}\] 3\/4 hosts maintained, 1 failed \(75%\) \| in flight 0\/2, failed 1\/1 \| failed: r-2: .*dummy: failed on r-2/,
    );
    expect(watched.err).toMatch(new RegExp(`^fenix: session ${id} MAINTENANCE_FAILED: .*r-2.*\n$`));

    const show = await fenix(['session', 'show', id], false, env);
    expect(show.out).toMatch(/^Rollout +max_parallel_hosts 2, max_failed_hosts 1; in flight 0\/2, failed 1\/1$/m);
    expect(show.out).toMatch(/^r-2 +compute +FAILED +yes +no +.*dummy: failed on r-2 after 1 s as asked/m);
  });
});
