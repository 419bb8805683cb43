import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../local/eventbridge-shim.js';
import {
  fenixTimeIn,
  startSink,
  startTestRuntime,
  type TestRuntime,
  type TestRuntimeOptions,
} from '../helpers/runtime.js';

/**
 * Tenant policy (DESIGN §11) end to end: which projects a session waits for (those a subscription
 * delivers to, or the policy names), what happens to the others' instances, and what silence does
 * under each `on_no_reply`. The real ASL, handlers, dynalite and the EventBridge stand-in; the
 * VNFMs are scripted in-process, and the subscriptions point at a sink, as a webhook would.
 */

const WINDOW = 8;

/** c-1 holds vnf-a's instance, c-2 and c-3 vnf-b's; c-4 (outside the sessions) has room for them. */
const inventory = {
  hosts: [
    { name: 'c-1', type: 'compute', vcpus: 4 },
    { name: 'c-2', type: 'compute', vcpus: 4 },
    { name: 'c-3', type: 'compute', vcpus: 4 },
    { name: 'c-4', type: 'compute', vcpus: 8 },
  ],
  instances: [
    { name: 'a-1', project_id: 'vnf-a', host: 'c-1', vcpus: 2 },
    { name: 'b-1', project_id: 'vnf-b', host: 'c-2', vcpus: 2 },
    { name: 'b-2', project_id: 'vnf-b', host: 'c-3', vcpus: 2 },
  ],
};
const HOSTS = ['c-1', 'c-2', 'c-3'];

let sink: Awaited<ReturnType<typeof startSink>>;
beforeAll(async () => {
  sink = await startSink();
});
afterAll(() => sink.close());

let fx: TestRuntime | undefined;
afterEach(async () => {
  await fx?.stop();
  fx = undefined;
});

/** A runtime where exactly `subscribed` have a subscription (a webhook to the sink). */
const start = async (subscribed: string[], options: TestRuntimeOptions = {}) => {
  fx = await startTestRuntime({
    inventory,
    subscriptions: subscribed.map((projectId) => ({
      pattern: { source: ['fenix'], 'detail-type': ['maintenance.scheduled'], detail: { project_id: [projectId] } },
      url: sink.url,
    })),
    ...options,
    env: {
      FENIX_PROJECT_MAINTENANCE_REPLY: String(WINDOW),
      FENIX_PROJECT_SCALE_IN_REPLY: String(WINDOW),
      ...options.env,
    },
  });
  return fx;
};

interface Reply {
  state: string;
  status: number;
  error?: string;
}

/**
 * A VNFM for one project: answers every notification (ACK, LIVE_MIGRATE for every instance listed)
 * unless `silentIn` names the state, and records the status of each reply it sent.
 */
const vnfm = (t: TestRuntime, projectId: string, options: { silentIn?: (state: string) => boolean } = {}) => {
  const replies: Reply[] = [];
  const waiters: { state: string; resolve: (reply: Reply) => void }[] = [];
  /** The answer to the reply this VNFM sent in `state` (a promise: the reply may still be on its way). */
  const replyIn = (state: string) =>
    new Promise<Reply>((resolve) => {
      const sent = replies.find((reply) => reply.state === state);
      if (sent) resolve(sent);
      else waiters.push({ state, resolve });
    });
  const seen = new Set<number>();
  t.runtime.bus.onEvent((event) => {
    const detail = event.detail as Record<string, any>;
    if (event['detail-type'] !== 'maintenance.scheduled' || detail.project_id !== projectId) return;
    if (seen.has(detail.event_seq) || detail.state === 'INSTANCE_ACTION_DONE') return;
    seen.add(detail.event_seq);
    if (options.silentIn?.(detail.state)) return;
    const answer = async () => {
      let instance_actions: Record<string, string> | undefined;
      if (detail.state === 'PREPARE_MAINTENANCE' || detail.state === 'PLANNED_MAINTENANCE') {
        const listed = await t.api('GET', new URL(detail.instance_ids).pathname);
        instance_actions = Object.fromEntries(
          ((listed.body?.instance_ids ?? []) as string[]).map((id) => [id, 'LIVE_MIGRATE']),
        );
      }
      const response = await t.api('PUT', new URL(detail.reply_url).pathname, {
        state: `ACK_${detail.state}`,
        ...(instance_actions ? { instance_actions } : {}),
      });
      const reply = { state: detail.state, status: response.status, error: response.body?.error };
      replies.push(reply);
      for (const waiter of waiters.filter((w) => w.state === reply.state)) waiter.resolve(reply);
    };
    answer().catch(() => undefined); // cut off by teardown: the assertions are on events and records
  });
  return Object.assign(replies, { replyIn });
};

const createSession = async (t: TestRuntime, body: Record<string, unknown> = {}) => {
  const response = await t.api('POST', '/v1/maintenance', {
    state: 'MAINTENANCE',
    maintenance_at: fenixTimeIn(WINDOW + 1),
    hosts: HOSTS,
    ...body,
  });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.session_id as string;
};

const scheduled = (t: TestRuntime, id: string, projectId: string) =>
  t.events.filter(
    (e) =>
      e['detail-type'] === 'maintenance.scheduled' && e.detail.session_id === id && e.detail.project_id === projectId,
  );
const at = (event: EventEnvelope | undefined) => new Date(event?.time ?? 0).getTime();
const detailOf = async (t: TestRuntime, id: string) => (await t.api('GET', `/v1/maintenance/${id}/detail`)).body;
const projectIn = (detail: any, projectId: string) =>
  (detail.projects as any[]).find((project) => project.project_id === projectId);

describe('projects that do not interact', () => {
  it('are informed but never waited for: their instances get the default action, and the session does not wait a reply window for them', async () => {
    const t = await start(['vnf-a']);
    const a = vnfm(t, 'vnf-a');
    const b = vnfm(t, 'vnf-b'); // listens in-process, but no subscription delivers to it
    const id = await createSession(t);
    const done = await t.waitForState(id, 'MAINTENANCE_DONE', 60_000);

    // vnf-b was told every step, and each of its instances was moved with LIVE_MIGRATE.
    const toB = scheduled(t, id, 'vnf-b');
    expect(toB.map((e) => e.detail.state)).toEqual([
      'MAINTENANCE',
      'PLANNED_MAINTENANCE',
      'INSTANCE_ACTION_DONE',
      'PLANNED_MAINTENANCE',
      'INSTANCE_ACTION_DONE',
      'MAINTENANCE_COMPLETE',
    ]);
    // Its host rounds were decided at once: the action came well inside what one reply window would take.
    for (const [index, event] of toB.entries()) {
      if (event.detail.state !== 'PLANNED_MAINTENANCE') continue;
      expect(at(toB[index + 1]) - at(event)).toBeLessThan((WINDOW / 2) * 1000);
    }
    // From maintenance_at to DONE took less than one reply window, with three hosts to maintain.
    const waitedUntil = new Date((await t.runtime.store.getSession(id))?.maintenance_at ?? 0).getTime();
    expect(at(done) - waitedUntil).toBeLessThan(WINDOW * 1000);

    // Its replies were refused (it is not waited for); vnf-a's were all accepted.
    expect(b.length).toBeGreaterThan(0);
    expect(new Set(b.map((reply) => `${reply.status} ${reply.error}`))).toEqual(new Set(['409 not_interacting']));
    expect(a.map((reply) => reply.status)).toEqual(a.map(() => 200));

    const detail = await detailOf(t, id);
    expect(projectIn(detail, 'vnf-a')).toMatchObject({ interacting: true, silent_in: null });
    expect(projectIn(detail, 'vnf-b')).toMatchObject({
      interacting: false,
      silent_in: null,
      policy: { on_no_reply: 'DEFAULT_ACTION', default_action: 'LIVE_MIGRATE' },
    });
    // Its notifications are filed as information; vnf-a's as questions.
    const notices = (detail.history as any[]).filter((entry) => entry.what === 'notification');
    expect(new Set(notices.map((entry) => `${entry.project_id} ${entry.informed ?? false}`))).toEqual(
      new Set(['vnf-a false', 'vnf-b true']),
    );
    expect(detail.session.policy).toEqual({
      on_no_reply: 'DEFAULT_ACTION',
      default_action: 'LIVE_MIGRATE',
      projects: {},
    });
    // (a-1 moved off the session's hosts, so the session no longer lists it.)
    const actions = Object.fromEntries((detail.instances as any[]).map((i) => [i.name, [i.action, i.action_done]]));
    expect(actions).toEqual({ 'b-1': ['LIVE_MIGRATE', true], 'b-2': ['LIVE_MIGRATE', true] });
    // Every instance still runs, on a maintained host or the one outside the session.
    const cloud = await t.runtime.cloud.listInstances();
    expect(cloud.map((i) => i.name).sort()).toEqual(['a-1', 'b-1', 'b-2']);
    const maintained = (await t.runtime.cloud.listHosts()).filter((h) => h.maintained).map((h) => h.name);
    for (const instance of cloud) expect([...maintained, 'c-4']).toContain(instance.host);
  });

  it('when no project interacts, the session never waits for a reply', async () => {
    const t = await start([]);
    const id = await createSession(t);
    const done = await t.waitForState(id, 'MAINTENANCE_DONE', 60_000);
    const waitedUntil = new Date((await t.runtime.store.getSession(id))?.maintenance_at ?? 0).getTime();
    expect(at(done) - waitedUntil).toBeLessThan(WINDOW * 1000);
    const detail = await detailOf(t, id);
    expect((detail.projects as any[]).map((p) => [p.project_id, p.interacting])).toEqual([
      ['vnf-a', false],
      ['vnf-b', false],
    ]);
    expect(detail.history.filter((entry: any) => entry.what === 'reply')).toEqual([]);
    expect(
      t.events.filter((e) => e.detail.session_id === id && e.detail.state === 'INSTANCE_ACTION_DONE'),
    ).toHaveLength(3);
  });

  it('cannot scale in: on a full cloud with nobody interacting, the session fails at once, saying why in numbers', async () => {
    fx = await startTestRuntime({
      inventory: {
        hosts: [
          { name: 'f-1', type: 'compute', vcpus: 4 },
          { name: 'f-2', type: 'compute', vcpus: 4 },
        ],
        instances: [
          { name: 'x', project_id: 'vnf-a', host: 'f-1', vcpus: 4 },
          { name: 'y', project_id: 'vnf-a', host: 'f-2', vcpus: 4 },
        ],
      },
      subscriptions: [],
    });
    const id = await createSession(fx, { hosts: ['f-1', 'f-2'], maintenance_at: fenixTimeIn(3) });
    await fx.waitForEvent((e) => e.detail.session_id === id && e.detail.state === 'MAINTENANCE_FAILED');
    const detail = await detailOf(fx, id);
    expect(detail.session.failure).toBe(
      'SCALE_IN: no compute can be emptied (the least loaded compute, f-1, holds 4 vCPUs and the other enabled computes have 0 free) and no project that could scale in interacts with this session',
    );
    // No round was opened for SCALE_IN, and no host was touched.
    expect(scheduled(fx, id, 'vnf-a').map((e) => e.detail.state)).toEqual(['MAINTENANCE']);
    expect((await fx.runtime.cloud.getHosts(['f-1', 'f-2'])).map((h) => h?.disabled)).toEqual([false, false]);
  });

  it('follow the policy: interacting:false overrides a subscription, and EVICTION removes the instances', async () => {
    const t = await start(['vnf-a', 'vnf-b']);
    vnfm(t, 'vnf-a');
    const b = vnfm(t, 'vnf-b');
    const id = await createSession(t, {
      policy: { projects: { 'vnf-b': { interacting: false, default_action: 'EVICTION' } } },
    });
    await t.waitForState(id, 'MAINTENANCE_DONE', 60_000);
    expect(new Set(b.map((reply) => reply.error))).toEqual(new Set(['not_interacting']));
    const names = (await t.runtime.cloud.listInstances()).map((i) => i.name).sort();
    expect(names).toEqual(['a-1']);
    const done = scheduled(t, id, 'vnf-b').filter((e) => e.detail.state === 'INSTANCE_ACTION_DONE');
    expect(done).toHaveLength(2);
    const detail = await detailOf(t, id);
    expect(detail.session.policy.projects).toEqual({ 'vnf-b': { interacting: false, default_action: 'EVICTION' } });
    expect(projectIn(detail, 'vnf-b')).toMatchObject({
      interacting: false,
      policy: { on_no_reply: 'DEFAULT_ACTION', default_action: 'EVICTION' },
    });
  });
});

describe('silent projects', () => {
  it('under DEFAULT_ACTION: the round closes at its deadline, the project gets the default action and is not waited for again', async () => {
    const t = await start(['vnf-a', 'vnf-b'], { env: { FENIX_PROJECT_MAINTENANCE_REPLY: '3' } });
    const a = vnfm(t, 'vnf-a', { silentIn: (state) => state === 'PREPARE_MAINTENANCE' });
    vnfm(t, 'vnf-b');
    const id = await createSession(t, { maintenance_at: fenixTimeIn(4) });
    await t.waitForState(id, 'MAINTENANCE_DONE', 60_000);
    const detail = await detailOf(t, id);
    expect(projectIn(detail, 'vnf-a')).toMatchObject({ interacting: false, silent_in: 'PREPARE_MAINTENANCE' });
    expect(projectIn(detail, 'vnf-b')).toMatchObject({ interacting: true, silent_in: null });
    const silent = (detail.history as any[]).filter((entry) => entry.what === 'silent');
    expect(silent).toEqual([
      expect.objectContaining({
        project_id: 'vnf-a',
        state: 'PREPARE_MAINTENANCE',
        reason: 'project vnf-a silent in PREPARE_MAINTENANCE: default action LIVE_MIGRATE',
      }),
    ]);
    // Its instance was moved by the engine, and vnf-a was told so.
    const [moved] = await t.runtime.cloud.listInstances('vnf-a');
    expect(moved?.host).toBe('c-4');
    expect(scheduled(t, id, 'vnf-a').map((e) => e.detail.state)).toContain('INSTANCE_ACTION_DONE');
    // Told of MAINTENANCE_COMPLETE, but no longer asked: its reply there is refused.
    expect(await a.replyIn('MAINTENANCE_COMPLETE')).toEqual({
      state: 'MAINTENANCE_COMPLETE',
      status: 409,
      error: 'not_interacting',
    });
  });

  it('under FAIL (a per-project override): the session fails naming the project; a POST update continues it', async () => {
    const t = await start(['vnf-a', 'vnf-b']);
    let silentOnce = true;
    vnfm(t, 'vnf-a', {
      silentIn: (state) => {
        if (state !== 'MAINTENANCE' || !silentOnce) return false;
        silentOnce = false;
        return true;
      },
    });
    vnfm(t, 'vnf-b');
    const id = await createSession(t, { policy: { projects: { 'vnf-a': { on_no_reply: 'FAIL' } } } });
    await t.waitForEvent(
      (e) => e.detail.session_id === id && e.detail.state === 'MAINTENANCE_FAILED',
      (WINDOW + 10) * 1000,
    );
    const failed = await detailOf(t, id);
    expect(failed.session.failure).toMatch(/^MAINTENANCE: no reply before .* from project vnf-a \(on_no_reply FAIL\)$/);
    expect(failed.session.failure_details).toMatchObject({ silent_projects: ['vnf-a'] });
    // No host was touched.
    expect((await t.runtime.cloud.getHosts(HOSTS)).map((h) => h?.disabled)).toEqual([false, false, false]);

    const since = t.events.length;
    const update = await t.api('POST', `/v1/maintenance/${id}`, {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(WINDOW + 1),
    });
    expect(update.status, JSON.stringify(update.body)).toBe(200);
    await t.waitForState(id, 'MAINTENANCE_DONE', 60_000, since);
    expect((await detailOf(t, id)).session.failure).toBeNull();
  });
});
