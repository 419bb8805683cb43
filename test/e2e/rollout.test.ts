import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../local/eventbridge-shim.js';
import { fenixTimeIn, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

/**
 * The rollout (DESIGN §12) on the real local stack: the session ASL, its per-host child executions,
 * the handlers and dynalite. Nobody is subscribed, so every instance gets the default LIVE_MIGRATE
 * and the tests play only the plug-ins, which here hold a host until the test lets it go.
 */

const hostEvents = (t: TestRuntime, id: string) =>
  t.events.filter((e) => e['detail-type'] === 'maintenance.host' && e.detail.session_id === id);

/** The most hosts between IN_MAINTENANCE and their end (COMPLETE or FAILED) at any point of the event order. */
const peakInMaintenance = (events: EventEnvelope[]) => {
  let now = 0;
  let peak = 0;
  for (const event of events) {
    now += event.detail.state === 'IN_MAINTENANCE' ? 1 : -1;
    peak = Math.max(peak, now);
  }
  return peak;
};

/** A plug-in each host's call of which waits until `release` says it may go (no timers involved). */
const gatedPlugin = (release: (active: number, started: number) => boolean) => {
  const state = { active: 0, peak: 0, started: 0, hosts: [] as string[], fail: new Set<string>() };
  let waiters: (() => void)[] = [];
  const check = () => {
    if (!release(state.active, state.started)) return;
    for (const go of waiters) go();
    waiters = [];
  };
  const plugin = async (payload: unknown) => {
    const host = (payload as { host: string }).host;
    state.active += 1;
    state.started += 1;
    state.peak = Math.max(state.peak, state.active);
    state.hosts.push(host);
    await new Promise<void>((go) => {
      waiters.push(go);
      check();
    });
    state.active -= 1;
    check();
    return state.fail.has(host)
      ? { state: 'FAILED', message: `firmware refused on ${host}` }
      : { state: 'DONE', message: 'ok' };
  };
  return { plugin, state };
};

const computes = (count: number, vcpus = 4) =>
  Array.from({ length: count }, (_, i) => ({ name: `c-${i + 1}`, type: 'compute', vcpus }));

describe('rollout: hosts in parallel', () => {
  let t: TestRuntime;
  // Released once three hosts are in their plug-in together, or once every host has started.
  const gate = gatedPlugin((active, started) => active >= 3 || started >= 7);
  beforeAll(async () => {
    t = await startTestRuntime({
      inventory: {
        // c-1..c-4 hold one instance each; c-5..c-7 are empty, so the first pass starts three at once.
        hosts: computes(7),
        instances: [1, 2, 3, 4].map((i) => ({ name: `vm-${i}`, project_id: 'vnf-a', host: `c-${i}`, vcpus: 1 })),
      },
      subscriptions: [],
      plugins: { gated: gate.plugin },
      // Moves that take a second: the rollout follows them while it fills other slots.
      env: { FENIX_SIM_ACTION_SECONDS: '1' },
    });
  });
  afterAll(async () => t?.stop());

  it('keeps max_parallel_hosts hosts in flight, never more, and drains several hosts in one round', async () => {
    const created = await t.api('POST', '/v1/maintenance', {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(3),
      hosts: [],
      actions: [{ plugin: 'gated', type: 'compute' }],
      rollout: { max_parallel_hosts: 3 },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const id = created.body.session_id as string;
    await t.waitForState(id, 'MAINTENANCE_DONE', 60_000);

    // The plug-in saw three hosts at once (reached) and never four (not exceeded) ...
    expect(gate.state.peak).toBe(3);
    expect(gate.state.hosts.sort()).toEqual(['c-1', 'c-2', 'c-3', 'c-4', 'c-5', 'c-6', 'c-7']);
    // ... and so do the host events.
    expect(peakInMaintenance(hostEvents(t, id))).toBe(3);
    // The three empty computes went first, together; then one PLANNED round drained three hosts.
    const first = hostEvents(t, id)
      .slice(0, 3)
      .map((e) => `${e.detail.host} ${e.detail.state}`);
    expect(first.sort()).toEqual(['c-5 IN_MAINTENANCE', 'c-6 IN_MAINTENANCE', 'c-7 IN_MAINTENANCE']);
    const planned = t.events.filter(
      (e) =>
        e.detail.session_id === id &&
        e['detail-type'] === 'maintenance.session' &&
        e.detail.state === 'PLANNED_MAINTENANCE',
    );
    expect(planned.length).toBe(2);
    const detail = (await t.api('GET', `/v1/maintenance/${id}/detail`)).body;
    expect(detail.session.rollout).toEqual({ max_parallel_hosts: 3, max_failed_hosts: 0 });
    expect(detail.session.hosts_in_flight).toEqual([]);
    // Every host enabled again; every instance moved once (onto a host already maintained).
    const hosts = await t.runtime.cloud.listHosts();
    expect(hosts.filter((h) => h.disabled)).toEqual([]);
    const done = t.events.filter((e) => e.detail.session_id === id && e.detail.state === 'INSTANCE_ACTION_DONE');
    expect(done.map((e) => (e.detail.instance_ids as string[])[0]).sort()).toEqual(
      (await t.runtime.cloud.listInstances()).map((i) => i.id).sort(),
    );
  });

  it('refuses a bad rollout with a 400 naming the field, and creates nothing', async () => {
    for (const [rollout, field] of [
      [{ max_parallel_hosts: 0 }, 'rollout.max_parallel_hosts'],
      [{ max_parallel_hosts: 2.5 }, 'rollout.max_parallel_hosts'],
      [{ max_failed_hosts: -1 }, 'rollout.max_failed_hosts'],
      [{ parallel: 2 }, 'parallel'],
    ] as const) {
      const before = (await t.api('GET', '/v1/maintenance')).body;
      const response = await t.api('POST', '/v1/maintenance', {
        state: 'MAINTENANCE',
        maintenance_at: fenixTimeIn(30),
        rollout,
      });
      expect(response.status).toBe(400);
      expect(response.body.message).toContain(field);
      expect((await t.api('GET', '/v1/maintenance')).body).toEqual(before);
    }
  });
});

describe('rollout: failed hosts', () => {
  let t: TestRuntime;
  // Four empty computes: the first pass starts two at a time. Every other host waits until c-1 has
  // ended (its maintenance.host event), so c-2 is still in flight when c-1 fails.
  const order: string[] = [];
  const behaviour = { failOn: new Set<string>(['c-1']) };
  const plugin = async (payload: unknown) => {
    const { host, session_id } = payload as { host: string; session_id: string };
    order.push(host);
    if (host === 'c-1')
      return behaviour.failOn.has(host) ? { state: 'FAILED', message: 'firmware refused' } : { state: 'DONE' };
    await t.waitForEvent(
      (e) =>
        e['detail-type'] === 'maintenance.host' &&
        e.detail.session_id === session_id &&
        e.detail.host === 'c-1' &&
        e.detail.state !== 'IN_MAINTENANCE',
      30_000,
    );
    return { state: 'DONE' };
  };
  beforeAll(async () => {
    t = await startTestRuntime({
      inventory: { hosts: [...computes(4), { name: 'ctl-1', type: 'controller', vcpus: 4 }], instances: [] },
      subscriptions: [],
      plugins: { fw: plugin },
    });
  });
  afterAll(async () => t?.stop());

  const create = async (rollout: Record<string, number>, hosts = ['c-1', 'c-2', 'c-3', 'c-4']) => {
    const created = await t.api('POST', '/v1/maintenance', {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(3),
      hosts,
      actions: [{ plugin: 'fw', type: 'compute' }],
      rollout,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    return created.body.session_id as string;
  };

  it('max_failed_hosts 0: no host starts after a failure, the one in flight finishes, then the session fails naming it', async () => {
    order.length = 0;
    const id = await create({ max_parallel_hosts: 2, max_failed_hosts: 0 });
    const failed = await t.waitForState(id, 'MAINTENANCE_FAILED', 60_000);
    const events = hostEvents(t, id).map((e) => `${e.detail.host} ${e.detail.state}`);
    // c-1 and c-2 started together; c-1 failed; c-2 (in flight) finished; nothing else started.
    expect(events.slice(0, 2).sort()).toEqual(['c-1 IN_MAINTENANCE', 'c-2 IN_MAINTENANCE']);
    expect(events.slice(2)).toEqual(['c-1 MAINTENANCE_FAILED', 'c-2 MAINTENANCE_COMPLETE']);
    expect(t.events.indexOf(failed)).toBeGreaterThan(
      t.events.findIndex((e) => e.detail.session_id === id && e.detail.state === 'MAINTENANCE_COMPLETE'),
    );
    const detail = (await t.api('GET', `/v1/maintenance/${id}/detail`)).body;
    expect(detail.session.failure).toBe(
      '1 host failed (max_failed_hosts 0): c-1: plug-in fw failed on c-1: firmware refused',
    );
    expect(detail.session.failure_details).toEqual({ failed_hosts: ['c-1'] });
    const phases = Object.fromEntries(
      (detail.hosts as { name: string; phase: string }[]).map((h) => [h.name, h.phase]),
    );
    expect(phases).toEqual({ 'c-1': 'FAILED', 'c-2': 'MAINTAINED', 'c-3': 'PENDING', 'c-4': 'PENDING' });
    // The failed host stays disabled by the session; the others were never touched or are enabled again.
    const [c1, c2] = await t.runtime.cloud.getHosts(['c-1', 'c-2']);
    expect(c1?.disabled_reason).toBe(`fenix maintenance ${id}`);
    expect(c2?.disabled).toBe(false);
    await t.api('DELETE', `/v1/maintenance/${id}`);
  });

  it('max_failed_hosts 1: the others go on, the session fails naming only the failed host, and continue retries only it', async () => {
    order.length = 0;
    const id = await create({ max_parallel_hosts: 2, max_failed_hosts: 1 }, ['c-1', 'c-2', 'c-3', 'c-4', 'ctl-1']);
    await t.waitForState(id, 'MAINTENANCE_FAILED', 60_000);
    const detail = (await t.api('GET', `/v1/maintenance/${id}/detail`)).body;
    expect(detail.session.failure).toContain('1 host failed (max_failed_hosts 1): c-1:');
    const phases = Object.fromEntries(
      (detail.hosts as { name: string; phase: string }[]).map((h) => [h.name, h.phase]),
    );
    // Every other host, the controller included, was maintained before the session ended.
    expect(phases).toEqual({
      'c-1': 'FAILED',
      'c-2': 'MAINTAINED',
      'c-3': 'MAINTAINED',
      'c-4': 'MAINTAINED',
      'ctl-1': 'MAINTAINED',
    });
    expect(order.sort()).toEqual(['c-1', 'c-2', 'c-3', 'c-4']);

    // The admin fixes the cause and continues: only c-1 is maintained again.
    behaviour.failOn.clear();
    order.length = 0;
    const since = t.events.length;
    const continued = await t.api('PUT', `/v1/maintenance/${id}`, { state: 'START_MAINTENANCE' });
    expect(continued.status, JSON.stringify(continued.body)).toBe(200);
    await t.waitForState(id, 'MAINTENANCE_DONE', 60_000, since);
    expect(order).toEqual(['c-1']);
    expect(
      hostEvents(t, id)
        .filter((e) => t.events.indexOf(e) >= since)
        .map((e) => `${e.detail.host} ${e.detail.state}`),
    ).toEqual(['c-1 IN_MAINTENANCE', 'c-1 MAINTENANCE_COMPLETE']);
    expect((await t.runtime.cloud.listHosts()).filter((h) => h.disabled)).toEqual([]);
  });
});

describe('rollout: the history budget', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime({
      inventory: {
        hosts: computes(6),
        instances: [1, 2, 3].map((i) => ({ name: `vm-${i}`, project_id: 'vnf-a', host: `c-${i}`, vcpus: 1 })),
      },
      subscriptions: [],
      // A tiny budget: the session hands over to a fresh execution every few steps.
      env: { FENIX_HISTORY_EVENTS: '100' },
    });
  });
  afterAll(async () => t?.stop());

  it('hands the session over to fresh executions by history events, and still maintains every host once', async () => {
    const created = await t.api('POST', '/v1/maintenance', {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(3),
      rollout: { max_parallel_hosts: 2 },
    });
    const id = created.body.session_id as string;
    await t.waitForState(id, 'MAINTENANCE_DONE', 60_000);
    const session = await t.runtime.store.getSession(id);
    expect(session?.execution_count).toBeGreaterThan(1);
    const completions = hostEvents(t, id).filter((e) => e.detail.state === 'MAINTENANCE_COMPLETE');
    expect(completions.map((e) => e.detail.host).sort()).toEqual(
      computes(6)
        .map((h) => h.name)
        .sort(),
    );
  });
});

describe('rollout: instance groups bind the default workflow too', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime({
      inventory: {
        // The HA pair on c-1 and c-2, another project's instance on c-3; c-4 and c-5 are empty
        // (maintained first, then the room the others move to).
        hosts: computes(5),
        instances: [
          { name: 'ha-1', project_id: 'vnf-a', host: 'c-1', vcpus: 1 },
          { name: 'ha-2', project_id: 'vnf-a', host: 'c-2', vcpus: 1 },
          { name: 'x-1', project_id: 'vnf-b', host: 'c-3', vcpus: 1 },
        ],
      },
      subscriptions: [],
    });
  });
  afterAll(async () => t?.stop());

  it('moves one member of an HA pair at a time, the second only after the recovery time of the first (rounds in between), never onto one host', async () => {
    const vnfa = { authorization: `Bearer ${await t.token({ project: 'vnf-a' })}` };
    const group = { anti_affinity_group: true, max_instances_per_host: 1, max_impacted_members: 1, recovery_time: 3 };
    expect((await t.api('PUT', '/v1/instance_group/ha', group, vnfa)).status).toBe(200);
    const pair = await t.runtime.cloud.listInstances('vnf-a');
    for (const instance of pair)
      expect((await t.api('PUT', `/v1/instance/${instance.id}`, { group_id: 'ha' }, vnfa)).status).toBe(200);
    const created = await t.api('POST', '/v1/maintenance', {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(3),
      rollout: { max_parallel_hosts: 3 },
    });
    const id = created.body.session_id as string;
    await t.waitForState(id, 'MAINTENANCE_DONE', 60_000);

    // The pair's second member moved only once the first was done and 3 s had passed, though
    // slots were free and another round (c-3's) came in between.
    const done = t.events.filter((e) => e.detail.session_id === id && e.detail.state === 'INSTANCE_ACTION_DONE');
    const nameOf = new Map(pair.map((i) => [i.id, i.name]));
    const doneAt = (name: string) =>
      Date.parse(done.find((e) => nameOf.get((e.detail.instance_ids as string[])[0] as string) === name)?.time ?? '');
    expect(done.length).toBe(3);
    const [first, second] = [doneAt('ha-1'), doneAt('ha-2')].sort();
    expect((second as number) - (first as number)).toBeGreaterThanOrEqual(2800);
    const after = await t.runtime.cloud.listInstances('vnf-a');
    expect(new Set(after.map((i) => i.host)).size).toBe(2);
    expect((await t.runtime.cloud.listHosts()).filter((h) => h.disabled)).toEqual([]);
  });
});
