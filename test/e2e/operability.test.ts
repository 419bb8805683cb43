import { afterEach, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../local/eventbridge-shim.js';
import { fenixTimeIn, startTestRuntime, type TestRuntime, type TestRuntimeOptions } from '../helpers/runtime.js';

/** Detail, continue, delete: what an admin needs when a session fails at 3 a.m. */

let fx: TestRuntime | undefined;
afterEach(async () => {
  await fx?.stop();
  fx = undefined;
});
const start = async (options: TestRuntimeOptions) => (fx = await startTestRuntime(options));

/** A project that answers every round (MIGRATE in PREPARE/PLANNED) — or NACKs while `nack()` says so. */
const autoReply = (t: TestRuntime, projectId: string, nack: (state: string) => boolean = () => false) => {
  const token = t.token({ project: projectId }); // minted once, awaited by each reply
  t.runtime.bus.onEvent((event: EventEnvelope) => {
    const d = event.detail as Record<string, any>;
    if (
      event['detail-type'] !== 'maintenance.scheduled' ||
      d.project_id !== projectId ||
      d.state === 'INSTANCE_ACTION_DONE'
    )
      return;
    void (async () => {
      const path = new URL(d.reply_url).pathname;
      const headers = { authorization: `Bearer ${await token}` };
      let instance_actions: Record<string, string> | undefined;
      if (d.allowed_actions.length) {
        const ids = ((await t.api('GET', path, undefined, headers)).body?.instance_ids ?? []) as string[];
        instance_actions = Object.fromEntries(ids.map((id) => [id, 'MIGRATE']));
      }
      await t.api(
        'PUT',
        path,
        { state: `${nack(d.state) ? 'NACK' : 'ACK'}_${d.state}`, ...(instance_actions ? { instance_actions } : {}) },
        headers,
      );
    })();
  });
};

const inventory = {
  hosts: [
    { name: 'c-1', type: 'compute', vcpus: 4 },
    { name: 'c-2', type: 'compute', vcpus: 4 },
    { name: 'c-3', type: 'compute', vcpus: 4 },
  ],
  instances: [
    { name: 'web-1', project_id: 'web', host: 'c-1', vcpus: 2 },
    { name: 'web-2', project_id: 'web', host: 'c-2', vcpus: 2 },
  ],
};

const hostCompletions = (t: TestRuntime, id: string) =>
  new Map(
    t.events
      .filter(
        (e) =>
          e['detail-type'] === 'maintenance.host' &&
          e.detail.session_id === id &&
          e.detail.state === 'MAINTENANCE_COMPLETE',
      )
      .map((e) => [e.detail.event_seq, e.detail.host as string]),
  );

describe('detail and continue', () => {
  it('shows who NACKed and when, and continues the session to MAINTENANCE_DONE once the cause is fixed', async () => {
    const t = await start({ inventory });
    let refuse = true;
    autoReply(t, 'web', () => refuse);
    const { body } = await t.api('POST', '/v1/maintenance', {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(5),
      hosts: [],
    });
    const id = body.session_id as string;
    await t.waitForEvent((e) => e.detail.session_id === id && e.detail.state === 'MAINTENANCE_FAILED');

    const detail = (await t.api('GET', `/v1/maintenance/${id}/detail`)).body;
    expect(detail.session).toMatchObject({
      session_id: id,
      state: 'MAINTENANCE_FAILED',
      workflow: 'default',
      percent_done: 0,
    });
    expect(detail.session.failure).toContain('web');
    expect(detail.projects).toEqual([
      expect.objectContaining({ project_id: 'web', reply: 'NACK_MAINTENANCE', replied_by: 'vnfm-web', pending: false }),
    ]);
    expect(detail.projects[0].replied_at).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    const reply = detail.history.find((h: { what: string }) => h.what === 'reply');
    expect(reply).toMatchObject({
      project_id: 'web',
      reply: 'NACK_MAINTENANCE',
      replied_by: 'vnfm-web',
      state: 'MAINTENANCE',
    });
    expect(detail.history.map((h: { what: string; state: string }) => `${h.what}:${h.state}`)).toEqual([
      'state:MAINTENANCE',
      'notification:MAINTENANCE',
      'reply:MAINTENANCE',
      'state:MAINTENANCE_FAILED',
    ]);
    expect(detail.hosts.map((h: { name: string; phase: string }) => `${h.name}:${h.phase}`).sort()).toEqual([
      'c-1:PENDING',
      'c-2:PENDING',
      'c-3:PENDING',
    ]);
    expect(detail.instances.map((i: { instance_id: string; host: string }) => i.host).sort()).toEqual(['c-1', 'c-2']);

    // Continuing is refused for states that cannot be resumed, and while it runs.
    expect((await t.api('PUT', `/v1/maintenance/${id}`, { state: 'MAINTENANCE_DONE' })).status).toBe(400);
    expect((await t.api('PUT', `/v1/maintenance/${id}`, { state: 'MAINTENANCE', color: 'red' })).status).toBe(400);
    expect(
      (await t.api('PUT', '/v1/maintenance/00000000-0000-4000-8000-000000000000', { state: 'MAINTENANCE' })).status,
    ).toBe(404);

    refuse = false;
    const since = t.events.length;
    const resumed = await t.api('PUT', `/v1/maintenance/${id}`, {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(5),
      metadata: { retry: 1 },
    });
    expect(resumed).toEqual({ status: 200, body: {} });
    const again = await t.api('PUT', `/v1/maintenance/${id}`, { state: 'MAINTENANCE' });
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('session_running');
    await t.waitForState(id, 'MAINTENANCE_DONE', 30_000, since);
    const done = (await t.api('GET', `/v1/maintenance/${id}/detail`)).body;
    expect(done.session).toMatchObject({
      state: 'MAINTENANCE_DONE',
      percent_done: 100,
      failure: null,
      metadata: { retry: 1 },
    });
    expect(
      done.hosts.every((h: { phase: string; maintained: boolean }) => h.phase === 'MAINTAINED' && h.maintained),
    ).toBe(true);
    expect((await t.api('PUT', `/v1/maintenance/${id}`, { state: 'MAINTENANCE' })).body.error).toBe('session_done');
  });

  it('continues after a failed plug-in without maintaining any host twice', async () => {
    let broken = true;
    const t = await start({
      inventory,
      plugins: {
        firmware: async (payload: unknown) => {
          const { host } = payload as { host: string };
          return broken && host === 'c-2' ? { state: 'FAILED', message: 'firmware image missing' } : { state: 'DONE' };
        },
      },
    });
    autoReply(t, 'web');
    const { body } = await t.api('POST', '/v1/maintenance', {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(5),
      hosts: [],
      actions: [{ plugin: 'firmware', type: 'compute' }],
    });
    const id = body.session_id as string;
    await t.waitForState(id, 'MAINTENANCE_FAILED');
    const detail = (await t.api('GET', `/v1/maintenance/${id}/detail`)).body;
    expect(detail.plugin_runs).toContainEqual(
      expect.objectContaining({ plugin: 'firmware', host: 'c-2', state: 'FAILED', message: 'firmware image missing' }),
    );
    const failedHost = detail.hosts.find((h: { name: string }) => h.name === 'c-2');
    expect(failedHost).toMatchObject({ phase: 'FAILED', disabled: true });
    expect(failedHost.blocking_reason).toContain('firmware image missing');
    const maintainedBefore = detail.hosts
      .filter((h: { maintained: boolean }) => h.maintained)
      .map((h: { name: string }) => h.name);
    expect(maintainedBefore.length).toBeGreaterThan(0);

    // Host work started: the schedule can no longer move.
    expect(
      (await t.api('PUT', `/v1/maintenance/${id}`, { state: 'START_MAINTENANCE', maintenance_at: fenixTimeIn(60) }))
        .body.error,
    ).toBe('host_work_started');
    broken = false;
    const since = t.events.length;
    expect((await t.api('PUT', `/v1/maintenance/${id}`, { state: 'START_MAINTENANCE' })).status).toBe(200);
    await t.waitForState(id, 'MAINTENANCE_DONE', 30_000, since);
    const completions = [...hostCompletions(t, id).values()].sort();
    expect(completions).toEqual(['c-1', 'c-2', 'c-3']);
    for (const host of await t.runtime.cloud.listHosts())
      expect(host).toMatchObject({ disabled: false, maintained: true });
  });

  it('pages the history and refuses bad paging parameters', async () => {
    const t = await start({ inventory });
    autoReply(t, 'web');
    const { body } = await t.api('POST', '/v1/maintenance', {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(5),
      hosts: [],
    });
    const id = body.session_id as string;
    await t.waitForState(id, 'MAINTENANCE_DONE');
    const all: unknown[] = [];
    let next: string | null = null;
    let pages = 0;
    do {
      const query: string = `history_limit=3${next ? `&history_next=${next}` : ''}`;
      const page = (await t.api('GET', `/v1/maintenance/${id}/detail?${query}`)).body;
      all.push(...page.history);
      next = page.history_next;
      pages++;
    } while (next);
    const unpaged = (await t.api('GET', `/v1/maintenance/${id}/detail?history_limit=1000`)).body.history;
    expect(all).toEqual(unpaged);
    expect(pages).toBeGreaterThan(3);
    const seqs = unpaged.map((h: { seq: number }) => h.seq);
    expect([...seqs].sort((a: number, b: number) => a - b)).toEqual(seqs);
    for (const query of [
      'history_limit=0',
      'history_limit=abc',
      'history_next=%25%25',
      'history_next=SU5TVEFOQ0U',
      'colour=red',
    ]) {
      const response = await t.api('GET', `/v1/maintenance/${id}/detail?${query}`);
      expect(response.status, query).toBe(400);
    }
  });
});

describe('delete', () => {
  it('stops a running session mid-maintenance, re-enables its hosts, releases them and leaves nothing behind', async () => {
    const t = await start({
      inventory,
      plugins: {
        // Holds the first host in maintenance until the test has deleted the session.
        hold: () => new Promise((resolve) => setTimeout(() => resolve({ state: 'DONE' }), 1500)),
      },
    });
    autoReply(t, 'web');
    const { body } = await t.api('POST', '/v1/maintenance', {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(5),
      hosts: [],
      actions: [{ plugin: 'hold', type: 'host' }],
    });
    const id = body.session_id as string;
    await t.waitForEvent((e) => e.detail.session_id === id && e['detail-type'] === 'maintenance.host');
    expect((await t.runtime.cloud.listHosts()).some((h) => h.disabled)).toBe(true);

    expect((await t.api('DELETE', `/v1/maintenance/${id}`)).status).toBe(200);
    const seen = t.events.length;
    await t.runtime.sfn.settled();
    expect(
      t.runtime.sfn
        .list()
        .filter((e) => e.name.startsWith(id))
        .every((e) => e.status !== 'RUNNING'),
    ).toBe(true);
    // Nothing it started keeps running or emitting.
    expect(t.events.slice(seen).filter((e) => e.detail.session_id === id)).toEqual([]);
    for (const host of await t.runtime.cloud.listHosts()) expect(host.disabled).toBe(false);
    expect(await t.runtime.store.listHosts(id)).toEqual([]);
    expect(await t.runtime.store.listInstances(id)).toEqual([]);
    expect((await t.api('PUT', `/v1/maintenance/${id}/web`, { state: 'ACK_MAINTENANCE' })).status).toBe(404);
    // Its hosts are free for a new session.
    const next = await t.api('POST', '/v1/maintenance', {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(60),
      hosts: ['c-1', 'c-2', 'c-3'],
    });
    expect(next.status).toBe(200);
  });
});
