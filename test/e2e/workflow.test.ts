import { afterEach, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../local/eventbridge-shim.js';
import { fenixTimeIn, startTestRuntime, type TestRuntime, type TestRuntimeOptions } from '../helpers/runtime.js';

/**
 * The default workflow end to end: the real ASL in the local engine, the real handlers, dynalite,
 * the EventBridge shim, and scripted VNFMs that answer like OPNFV Doctor's sample app manager.
 */

let fx: TestRuntime | undefined;
afterEach(async () => {
  await fx?.stop();
  fx = undefined;
});

const start = async (options: TestRuntimeOptions) => {
  fx = await startTestRuntime(options);
  return fx;
};

interface VnfmOptions {
  /** Instance names this project deletes on SCALE_IN (all in the first round). */
  scaleIn?: string[];
  /** The reply to give per state (default ACK, and MIGRATE for every instance). */
  verdict?: (state: string) => 'ACK' | 'NACK' | 'SILENT';
  action?: string;
}

/** A Doctor-like app manager for one project, driven by the events the runtime publishes. */
const vnfm = (t: TestRuntime, projectId: string, options: VnfmOptions = {}) => {
  const removed: { name: string; vcpus: number }[] = [];
  const handled: string[] = [];
  const seen = new Set<number>();
  const handle = async (event: EventEnvelope) => {
    const detail = event.detail as Record<string, any>;
    if (seen.has(detail.event_seq)) return; // at-least-once delivery: drop repeats
    seen.add(detail.event_seq);
    handled.push(detail.state);
    if (detail.state === 'INSTANCE_ACTION_DONE') return;
    const verdict = options.verdict?.(detail.state) ?? 'ACK';
    if (verdict === 'SILENT') return;
    const url = new URL(detail.reply_url).pathname;
    let instance_actions: Record<string, string> | undefined;
    if (detail.state === 'SCALE_IN') {
      for (const instance of await t.runtime.cloud.listInstances(projectId)) {
        if (options.scaleIn?.includes(instance.name) && !removed.some((r) => r.name === instance.name)) {
          await t.runtime.cloud.deleteInstance(instance.id);
          removed.push({ name: instance.name, vcpus: instance.vcpus });
        }
      }
    }
    if (detail.state === 'MAINTENANCE_COMPLETE') {
      for (const instance of removed.splice(0))
        await t.runtime.cloud.createInstance({ ...instance, project_id: projectId });
    }
    if (detail.state === 'PREPARE_MAINTENANCE' || detail.state === 'PLANNED_MAINTENANCE') {
      const ids = ((await t.api('GET', new URL(detail.instance_ids).pathname)).body?.instance_ids ?? []) as string[];
      instance_actions = Object.fromEntries(ids.map((id) => [id, options.action ?? 'MIGRATE']));
    }
    const response = await t.api('PUT', url, {
      state: `${verdict}_${detail.state}`,
      ...(instance_actions ? { instance_actions } : {}),
    });
    if (response.status !== 200) handled.push(`REFUSED ${response.status} ${response.body.message}`);
  };
  t.runtime.bus.onEvent((event) => {
    if (event['detail-type'] === 'maintenance.scheduled' && event.detail.project_id === projectId)
      handle(event).catch(() => undefined); // cut off by teardown: the assertions are on the events
  });
  return { handled, removed };
};

const sessionStates = (t: TestRuntime, id: string) =>
  t.events
    .filter((e) => e['detail-type'] === 'maintenance.session' && e.detail.session_id === id)
    .map((e) => e.detail.state as string);
const hostEvents = (t: TestRuntime, id: string) =>
  t.events
    .filter((e) => e['detail-type'] === 'maintenance.host' && e.detail.session_id === id)
    .map((e) => `${e.detail.host} ${e.detail.state}`);

/** Hosts are maintained one at a time: every IN_MAINTENANCE is followed by the same host's COMPLETE. */
const expectOneHostAtATime = (events: string[]) => {
  for (let i = 0; i < events.length; i += 2) {
    const host = events[i]?.split(' ')[0];
    expect(events[i]).toBe(`${host} IN_MAINTENANCE`);
    expect(events[i + 1]).toBe(`${host} MAINTENANCE_COMPLETE`);
  }
};

const createSession = async (t: TestRuntime, body: Record<string, unknown> = {}) => {
  const response = await t.api('POST', '/v1/maintenance', {
    state: 'MAINTENANCE',
    maintenance_at: fenixTimeIn(5),
    hosts: [],
    ...body,
  });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.session_id as string;
};

// OPNFV Doctor: three computes of 4 vCPUs packed full with 2-vCPU instances: an HA pair on two
// computes and 2 × computes − 2 non-HA instances.
const doctorInventory = {
  hosts: [
    { name: 'compute-1', type: 'compute', vcpus: 4 },
    { name: 'compute-2', type: 'compute', vcpus: 4 },
    { name: 'compute-3', type: 'compute', vcpus: 4 },
  ],
  instances: [
    { name: 'ha-0', project_id: 'vnf', host: 'compute-1', vcpus: 2 },
    { name: 'ha-1', project_id: 'vnf', host: 'compute-2', vcpus: 2 },
    { name: 'nonha-0', project_id: 'vnf', host: 'compute-1', vcpus: 2 },
    { name: 'nonha-1', project_id: 'vnf', host: 'compute-2', vcpus: 2 },
    { name: 'nonha-2', project_id: 'vnf', host: 'compute-3', vcpus: 2 },
    { name: 'nonha-3', project_id: 'vnf', host: 'compute-3', vcpus: 2 },
  ],
};

describe('default workflow', () => {
  it('runs the OPNFV Doctor scenario: SCALE_IN, PREPARE, START/PLANNED alternation, COMPLETE, DONE', async () => {
    const t = await start({ inventory: doctorInventory });
    const app = vnfm(t, 'vnf', { scaleIn: ['nonha-1', 'nonha-3'] });
    const id = await createSession(t);
    await t.waitForState(id, 'MAINTENANCE_DONE');

    expect(sessionStates(t, id)).toEqual([
      'MAINTENANCE',
      'SCALE_IN',
      'PREPARE_MAINTENANCE',
      'START_MAINTENANCE',
      'PLANNED_MAINTENANCE',
      'START_MAINTENANCE',
      'PLANNED_MAINTENANCE',
      'START_MAINTENANCE',
      'MAINTENANCE_COMPLETE',
      'MAINTENANCE_DONE',
    ]);
    const hosts = hostEvents(t, id);
    expectOneHostAtATime(hosts);
    expect(hosts.filter((h) => h.endsWith('IN_MAINTENANCE')).sort()).toEqual(
      ['compute-1', 'compute-2', 'compute-3'].map((h) => `${h} IN_MAINTENANCE`),
    );
    // No instance lost, the original count restored, every host enabled and maintained.
    expect((await t.runtime.cloud.listInstances('vnf')).map((i) => i.name).sort()).toEqual(
      doctorInventory.instances.map((i) => i.name).sort(),
    );
    for (const host of await t.runtime.cloud.listHosts())
      expect(host).toMatchObject({ disabled: false, maintained: true });
    // Fenix performed the migrations and told the owner after each.
    expect(app.handled.filter((s) => s === 'INSTANCE_ACTION_DONE').length).toBeGreaterThanOrEqual(4);
    expect(app.handled.filter((s) => s.startsWith('REFUSED'))).toEqual([]);
    expect((await t.api('GET', `/v1/maintenance/${id}`)).body.state).toBe('MAINTENANCE_DONE');
    // Every event of the session carries a distinct event_seq.
    const seqs = t.events.filter((e) => e.detail.session_id === id).map((e) => e.detail.event_seq);
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('goes straight to START_MAINTENANCE when a compute is already empty, and maintains discovered controllers last', async () => {
    const t = await start({
      inventory: {
        hosts: [
          { name: 'c-1', type: 'compute', vcpus: 4 },
          { name: 'c-2', type: 'compute', vcpus: 4 },
          { name: 'ctl-1', type: 'controller' },
        ],
        instances: [{ name: 'vm', project_id: 'p', host: 'c-1', vcpus: 2 }],
      },
    });
    vnfm(t, 'p');
    const id = await createSession(t, { hosts: [] });
    await t.waitForState(id, 'MAINTENANCE_DONE');
    expect(sessionStates(t, id).slice(0, 2)).toEqual(['MAINTENANCE', 'START_MAINTENANCE']);
    const hosts = hostEvents(t, id);
    expectOneHostAtATime(hosts);
    expect(hosts.filter((h) => h.endsWith('IN_MAINTENANCE'))).toEqual([
      'c-2 IN_MAINTENANCE',
      'c-1 IN_MAINTENANCE',
      'ctl-1 IN_MAINTENANCE',
    ]);
  });

  it('runs plug-ins in order: pre once, host then the host type alphabetically on each host, post once', async () => {
    const calls: string[] = [];
    const recorder = async (payload: unknown) => {
      const { plugin, host } = payload as { plugin: string; host: string | null };
      calls.push(`${plugin}@${host ?? '-'}`);
      return { state: 'DONE' };
    };
    const t = await start({
      inventory: {
        hosts: [
          { name: 'c-1', type: 'compute', vcpus: 2 },
          { name: 'k-1', type: 'controller' },
        ],
        instances: [],
      },
      plugins: { prep: recorder, zeta: recorder, alpha: recorder, ctl: recorder, fin: recorder },
    });
    const id = await createSession(t, {
      actions: [
        { plugin: 'fin', type: 'post' },
        { plugin: 'zeta', type: 'host' },
        { plugin: 'alpha', type: 'host', metadata: { upgrade: 'SW1' } },
        { plugin: 'ctl', type: 'controller' },
        { plugin: 'dummy', type: 'compute' },
        { plugin: 'prep', type: 'pre' },
      ],
    });
    await t.waitForState(id, 'MAINTENANCE_DONE');
    expect(calls).toEqual(['prep@-', 'alpha@c-1', 'zeta@c-1', 'alpha@k-1', 'zeta@k-1', 'ctl@k-1', 'fin@-']);
    // No project had instances: no round was waited on.
    expect(t.events.filter((e) => e['detail-type'] === 'maintenance.scheduled')).toEqual([]);
  });

  it('fails the session when a plug-in reports FAILED, recording the plug-in, host and message', async () => {
    const t = await start({
      inventory: {
        hosts: [
          { name: 'c-1', type: 'compute', vcpus: 2 },
          { name: 'c-2', type: 'compute', vcpus: 2 },
        ],
        instances: [],
      },
      plugins: { broken: async () => ({ state: 'FAILED', message: 'firmware refused' }) },
    });
    const id = await createSession(t, { actions: [{ plugin: 'broken', type: 'compute' }] });
    await t.waitForState(id, 'MAINTENANCE_FAILED');
    const session = await t.runtime.store.getSession(id);
    expect(session?.failure?.reason).toContain('broken');
    expect(session?.failure?.reason).toContain('c-1');
    expect(session?.failure?.reason).toContain('firmware refused');
    expect(hostEvents(t, id)).toEqual(['c-1 IN_MAINTENANCE', 'c-1 MAINTENANCE_FAILED']);
    expect((await t.runtime.store.listPluginRuns(id))[0]).toMatchObject({
      plugin: 'broken',
      host: 'c-1',
      state: 'FAILED',
    });
  });

  it('fails the session when a plug-in throws', async () => {
    const t = await start({
      inventory: { hosts: [{ name: 'c-1', type: 'compute', vcpus: 2 }], instances: [] },
      plugins: {
        crash: async () => {
          throw new Error('disk on fire');
        },
      },
    });
    const id = await createSession(t, { actions: [{ plugin: 'crash', type: 'host' }] });
    await t.waitForState(id, 'MAINTENANCE_FAILED');
    expect((await t.runtime.store.getSession(id))?.failure?.reason).toContain('disk on fire');
  });

  it('fails on a NACK in PLANNED_MAINTENANCE, and on a silent project in PREPARE_MAINTENANCE under on_no_reply FAIL', async () => {
    const t = await start({
      inventory: {
        hosts: [
          { name: 'c-1', type: 'compute', vcpus: 4 },
          { name: 'c-2', type: 'compute', vcpus: 4 },
          { name: 'c-3', type: 'compute', vcpus: 4 },
          { name: 'c-4', type: 'compute', vcpus: 4 },
        ],
        instances: [
          { name: 'a', project_id: 'nacker', host: 'c-1', vcpus: 2 },
          { name: 'b', project_id: 'sleeper', host: 'c-3', vcpus: 2 },
          { name: 'c', project_id: 'sleeper', host: 'c-4', vcpus: 2 },
        ],
      },
    });
    vnfm(t, 'nacker', { verdict: (state) => (state === 'PLANNED_MAINTENANCE' ? 'NACK' : 'ACK') });
    vnfm(t, 'sleeper', { verdict: (state) => (state === 'PREPARE_MAINTENANCE' ? 'SILENT' : 'ACK') });
    const first = await createSession(t, { hosts: ['c-1', 'c-2'] });
    await t.waitForState(first, 'MAINTENANCE_FAILED');
    expect(sessionStates(t, first)).toEqual([
      'MAINTENANCE',
      'START_MAINTENANCE',
      'PLANNED_MAINTENANCE',
      'MAINTENANCE_FAILED',
    ]);
    expect((await t.runtime.store.getSession(first))?.failure?.details).toMatchObject({ nacked_by: ['nacker'] });

    const second = await createSession(t, { hosts: ['c-3', 'c-4'], policy: { on_no_reply: 'FAIL' } });
    await t.waitForState(second, 'MAINTENANCE_FAILED', 20_000);
    expect(sessionStates(t, second)).toEqual(['MAINTENANCE', 'PREPARE_MAINTENANCE', 'MAINTENANCE_FAILED']);
    expect((await t.runtime.store.getSession(second))?.failure?.details).toMatchObject({
      silent_projects: ['sleeper'],
    });
  });

  it('waits for OWN_ACTION projects to empty the host themselves', async () => {
    const t = await start({
      inventory: {
        hosts: [
          { name: 'c-1', type: 'compute', vcpus: 4 },
          { name: 'c-2', type: 'compute', vcpus: 4 },
        ],
        instances: [{ name: 'self-mover', project_id: 'p', host: 'c-1', vcpus: 2 }],
      },
      env: { FENIX_EMPTY_CHECK_SECONDS: '1', FENIX_EMPTY_CHECK_ATTEMPTS: '10' },
    });
    // The project answers OWN_ACTION, then moves its instance a moment later.
    t.runtime.bus.onEvent((event) => {
      const d = event.detail as Record<string, any>;
      if (event['detail-type'] !== 'maintenance.scheduled' || d.project_id !== 'p') return;
      void (async () => {
        const path = new URL(d.reply_url).pathname;
        if (d.state === 'PLANNED_MAINTENANCE') {
          const ids = ((await t.api('GET', path)).body?.instance_ids ?? []) as string[];
          await t.api('PUT', path, {
            state: 'ACK_PLANNED_MAINTENANCE',
            instance_actions: Object.fromEntries(ids.map((i) => [i, 'OWN_ACTION'])),
          });
          for (const id of ids) await t.runtime.cloud.moveInstance(id);
        } else {
          await t.api('PUT', path, { state: `ACK_${d.state}` });
        }
      })();
    });
    const id = await createSession(t, { hosts: ['c-1', 'c-2'] });
    await t.waitForState(id, 'MAINTENANCE_DONE');
    expect(sessionStates(t, id)).toEqual([
      'MAINTENANCE',
      'START_MAINTENANCE',
      'PLANNED_MAINTENANCE',
      'START_MAINTENANCE',
      'MAINTENANCE_COMPLETE',
      'MAINTENANCE_DONE',
    ]);
    // The engine moved nothing itself: no INSTANCE_ACTION_DONE.
    expect(t.events.some((e) => e.detail.state === 'INSTANCE_ACTION_DONE')).toBe(false);
  });

  it('touches no host before maintenance_at, even when every project ACKed early', async () => {
    const t = await start({
      inventory: {
        hosts: [
          { name: 'c-1', type: 'compute', vcpus: 2 },
          { name: 'c-2', type: 'compute', vcpus: 2 },
        ],
        instances: [{ name: 'v', project_id: 'p', host: 'c-1', vcpus: 1 }],
      },
    });
    vnfm(t, 'p');
    const maintenanceAt = Date.now() + 5000;
    const id = await createSession(t, { maintenance_at: new Date(maintenanceAt).toISOString() });
    const ack = await t.waitForEvent((e) => e.detail.session_id === id && e['detail-type'] === 'maintenance.scheduled');
    expect(ack.detail.state).toBe('MAINTENANCE');
    const next = await t.waitForEvent(
      (e) =>
        e['detail-type'] === 'maintenance.session' && e.detail.session_id === id && e.detail.state !== 'MAINTENANCE',
    );
    expect(Date.parse(next.time)).toBeGreaterThanOrEqual(Math.floor(maintenanceAt / 1000) * 1000);
    await t.waitForState(id, 'MAINTENANCE_DONE');
  });
});
