import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fenixTimeIn, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

// Each test works on its own hosts, so sessions never collide unless a test means them to.
const hosts = Array.from({ length: 12 }, (_, i) => ({ name: `cmp-${i}`, type: 'compute', vcpus: 8 }));
const inventory = {
  hosts: [...hosts, { name: 'ctl-0', type: 'controller' }],
  instances: hosts.flatMap((host, i) => [
    { id: `p1-i${i}`, name: `p1-vm-${i}`, project_id: 'p1', host: host.name, vcpus: 2 },
    { id: `p2-i${i}`, name: `p2-vm-${i}`, project_id: 'p2', host: host.name, vcpus: 2 },
  ]),
};

let fx: TestRuntime;
beforeAll(async () => {
  fx = await startTestRuntime({ inventory, env: { FENIX_PROJECT_MAINTENANCE_REPLY: '3' } });
});
afterAll(async () => fx.stop());

const create = (body: Record<string, unknown>) =>
  fx.api('POST', '/v1/maintenance', { state: 'MAINTENANCE', maintenance_at: fenixTimeIn(60), ...body });
const scheduled = (sessionId: string, projectId: string) =>
  fx.waitForEvent(
    (e) =>
      e['detail-type'] === 'maintenance.scheduled' &&
      e.detail.session_id === sessionId &&
      e.detail.project_id === projectId,
  );

const dump = () => fx.dumpTable();

describe('sessions', () => {
  it('creates, lists, gets and deletes a session, with and without trailing slash', async () => {
    const created = await create({ hosts: ['cmp-0'], metadata: { openstack_version: 'Train' } });
    expect(created.status).toBe(200);
    expect(created.body.session_id).toMatch(/^[0-9a-f-]{36}$/);
    const id = created.body.session_id as string;

    expect((await fx.api('GET', '/v1/maintenance')).body.session_id).toContain(id);
    expect((await fx.api('GET', '/v1/maintenance/')).body.session_id).toContain(id);
    expect(await fx.api('GET', `/v1/maintenance/${id}`)).toEqual({
      status: 200,
      body: { session_id: id, state: 'MAINTENANCE' },
    });
    expect((await fx.api('GET', `/v1/maintenance/${id}/`)).body.state).toBe('MAINTENANCE');

    await scheduled(id, 'p1');
    expect(await fx.api('DELETE', `/v1/maintenance/${id}/`)).toEqual({ status: 200, body: {} });
    expect((await fx.api('GET', `/v1/maintenance/${id}`)).status).toBe(404);
    expect((await fx.api('GET', '/v1/maintenance')).body.session_id).not.toContain(id);
    // The execution is stopped and its token dead: a late reply finds no session.
    expect((await fx.api('PUT', `/v1/maintenance/${id}/p1`, { state: 'ACK_MAINTENANCE' })).status).toBe(404);
    const execution = fx.runtime.sfn.list().find((e) => e.name === id);
    expect(execution?.status).toBe('ABORTED');
    // The host is free again.
    const again = await create({ hosts: ['cmp-0'] });
    expect(again.status).toBe(200);
    await fx.api('DELETE', `/v1/maintenance/${again.body.session_id}`);
  });

  it('notifies every project with instances on the hosts, with every contract field', async () => {
    const maintenanceAt = fenixTimeIn(60);
    const before = Date.now();
    const { body } = await create({ hosts: ['cmp-1'], maintenance_at: maintenanceAt, metadata: { release: 'R2' } });
    const id = body.session_id as string;
    const event = await scheduled(id, 'p1');
    expect(event.source).toBe('fenix');
    expect(Object.keys(event).sort()).toEqual([
      'account',
      'detail',
      'detail-type',
      'id',
      'region',
      'resources',
      'source',
      'time',
      'version',
    ]);
    const url = `${fx.url}/v1/maintenance/${id}/p1`;
    expect(event.detail).toMatchObject({
      service: 'fenix',
      session_id: id,
      project_id: 'p1',
      state: 'MAINTENANCE',
      instance_ids: url,
      reply_url: url,
      allowed_actions: [],
      actions_at: maintenanceAt,
      metadata: { release: 'R2' },
    });
    expect(typeof event.detail.event_seq).toBe('number');
    // reply_at = now + the 3 s window (Fenix put it in the past).
    const replyAt = Date.parse(`${(event.detail.reply_at as string).replace(' ', 'T')}Z`);
    expect(replyAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 2000);
    expect(replyAt).toBeLessThanOrEqual(Date.now() + 4000);
    await scheduled(id, 'p2');
    const session = fx.events.find((e) => e['detail-type'] === 'maintenance.session' && e.detail.session_id === id);
    expect(session?.detail).toMatchObject({ state: 'MAINTENANCE', previous_state: null, percent_done: 0 });
    // Each project sees only its own instances.
    expect(await fx.api('GET', `/v1/maintenance/${id}/p1`)).toEqual({ status: 200, body: { instance_ids: ['p1-i1'] } });
    expect((await fx.api('GET', `/v1/maintenance/${id}/p2/`)).body).toEqual({ instance_ids: ['p2-i1'] });
    expect((await fx.api('GET', `/v1/maintenance/${id}/p3`)).status).toBe(404);
    await fx.api('DELETE', `/v1/maintenance/${id}`);
  });

  it('refuses a host that is in another active session with 409, writing nothing', async () => {
    const first = await create({ hosts: ['cmp-2'] });
    await scheduled(first.body.session_id, 'p1');
    const before = await dump();
    const second = await create({ hosts: ['cmp-3', 'cmp-2'] });
    expect(second.status).toBe(409);
    expect(second.body.error).toBe('host_in_session');
    expect(second.body.message).toContain('cmp-2');
    expect(await dump()).toBe(before);
    await fx.api('DELETE', `/v1/maintenance/${first.body.session_id}`);
  });

  it.each([
    [{ state: undefined }, 'state'],
    [{ state: 'SCALE_IN' }, 'state'],
    [{ maintenance_at: 'tomorrow' }, 'maintenance_at'],
    [{ maintenance_at: '2026-02-30 10:00:00' }, 'maintenance_at'],
    [{ hosts: 'cmp-4' }, 'hosts'],
    [{ hosts: ['cmp-4', 'cmp-4'] }, 'hosts'],
    [{ hosts: ['../etc/passwd'] }, 'hosts.0'],
    [{ hosts: ['no-such-host'] }, 'no-such-host'],
    [{ workflow: 'k8s' }, 'workflow'],
    [{ metadata: [] }, 'metadata'],
    [{ actions: [{ plugin: 'dummy', type: 'sometimes' }] }, 'actions.0.type'],
    [{ actions: [{ plugin: 'nope', type: 'host' }] }, 'nope'],
    [{ color: 'red' }, 'color'],
  ])('refuses the bad create body %j with a 400 naming %s, writing nothing', async (change, field) => {
    const before = await dump();
    const body = { state: 'MAINTENANCE', maintenance_at: fenixTimeIn(60), hosts: ['cmp-4'], ...change };
    const response = await fx.api('POST', '/v1/maintenance', body);
    expect(response.status).toBe(400);
    expect(response.body.error).toBe('invalid_request');
    expect(response.body.message).toContain(field);
    expect(await dump()).toBe(before);
  });

  it('refuses bad JSON, a wrong content type and duplicate keys with 400', async () => {
    const before = await dump();
    expect((await fx.api('POST', '/v1/maintenance', '{"state": ')).status).toBe(400);
    expect(
      (
        await fx.api('POST', '/v1/maintenance', 'state=MAINTENANCE', {
          'content-type': 'application/x-www-form-urlencoded',
        })
      ).status,
    ).toBe(400);
    const duplicate = await fx.api(
      'POST',
      '/v1/maintenance',
      `{"state":"MAINTENANCE","maintenance_at":"${fenixTimeIn(60)}","hosts":["cmp-4"],"hosts":["cmp-5"]}`,
    );
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.message).toContain('hosts');
    expect(await dump()).toBe(before);
  });

  it('answers 404 for unknown sessions and 400 for ids that cannot be sessions', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    for (const [method, path] of [
      ['GET', `/v1/maintenance/${unknown}`],
      ['DELETE', `/v1/maintenance/${unknown}`],
      ['GET', `/v1/maintenance/${unknown}/p1`],
    ] as const) {
      const response = await fx.api(method, path);
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.body.error).toBe('not_found');
    }
    expect((await fx.api('PUT', `/v1/maintenance/${unknown}/p1`, { state: 'ACK_MAINTENANCE' })).status).toBe(404);
    const bad = await fx.api('GET', '/v1/maintenance/not-a-uuid');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('session_id');
    expect((await fx.api('GET', '/v1/nothing')).status).toBe(404);
  });
});

describe('project replies', () => {
  it('validates the reply, records it once, and resumes the workflow when the round completes', async () => {
    const { body } = await create({ hosts: ['cmp-5'], maintenance_at: fenixTimeIn(4) });
    const id = body.session_id as string;
    await scheduled(id, 'p2');
    const before = await dump();
    const refusals: [unknown, number, string][] = [
      [{ state: 'ACK' }, 400, 'state'],
      [{ state: 'ACK_SCALE_IN' }, 409, 'ACK_MAINTENANCE'],
      [{ state: 'ACK_MAINTENANCE', instance_actions: { 'p2-i5': 'MIGRATE' } }, 400, 'p2-i5'],
      [{ state: 'ACK_MAINTENANCE', instance_actions: { 'p1-i5': 'MIGRATE' } }, 400, 'MIGRATE'],
      [{ state: 'ACK_MAINTENANCE', instance_actions: { 'p1-i5': 'TELEPORT' } }, 400, 'action'],
      [{ state: 'ACK_MAINTENANCE', session_id: id }, 400, 'session_id'],
    ];
    for (const [reply, status, text] of refusals) {
      const response = await fx.api('PUT', `/v1/maintenance/${id}/p1`, reply);
      expect(response.status, JSON.stringify(reply)).toBe(status);
      expect(response.body.message).toContain(text);
    }
    expect(await dump()).toBe(before);

    expect(await fx.api('PUT', `/v1/maintenance/${id}/p1`, { state: 'ACK_MAINTENANCE' })).toEqual({
      status: 200,
      body: {},
    });
    // A repeat of the same reply changes nothing; a different one is a conflict.
    const afterFirst = await dump();
    expect((await fx.api('PUT', `/v1/maintenance/${id}/p1/`, { state: 'ACK_MAINTENANCE' })).status).toBe(200);
    expect(await dump()).toBe(afterFirst);
    expect((await fx.api('PUT', `/v1/maintenance/${id}/p1`, { state: 'NACK_MAINTENANCE' })).status).toBe(409);

    expect((await fx.api('PUT', `/v1/maintenance/${id}/p2`, { state: 'ACK_MAINTENANCE' })).status).toBe(200);
    // Both ACKed: after maintenance_at the workflow leaves MAINTENANCE (cmp-5 holds instances and
    // the other hosts have room, so it prepares to empty it).
    const next = await fx.waitForEvent(
      (e) =>
        e['detail-type'] === 'maintenance.session' &&
        e.detail.session_id === id &&
        e.detail.previous_state === 'MAINTENANCE',
    );
    expect(next.detail.state).toBe('PREPARE_MAINTENANCE');
    // The closed round refuses late replies.
    expect((await fx.api('PUT', `/v1/maintenance/${id}/p2`, { state: 'NACK_MAINTENANCE' })).status).toBe(409);
    await fx.api('DELETE', `/v1/maintenance/${id}`);
  });

  it('fails the session on a NACK, naming the project', async () => {
    const { body } = await create({ hosts: ['cmp-6'] });
    const id = body.session_id as string;
    await scheduled(id, 'p1');
    expect((await fx.api('PUT', `/v1/maintenance/${id}/p1`, { state: 'NACK_MAINTENANCE' })).status).toBe(200);
    await fx.waitForState(id, 'MAINTENANCE_FAILED');
    expect((await fx.api('GET', `/v1/maintenance/${id}`)).body.state).toBe('MAINTENANCE_FAILED');
    const session = await fx.runtime.store.getSession(id);
    expect(session?.failure?.reason).toContain('p1');
    expect(session?.failure?.details).toMatchObject({ nacked_by: ['p1'] });
    // A failed session no longer holds its hosts.
    const next = await create({ hosts: ['cmp-6'] });
    expect(next.status).toBe(200);
    await fx.api('DELETE', `/v1/maintenance/${next.body.session_id}`);
  });

  it('fails the session when a project stays silent past its window under on_no_reply FAIL, recording who', async () => {
    const { body } = await create({ hosts: ['cmp-7'], policy: { on_no_reply: 'FAIL' } });
    const id = body.session_id as string;
    await scheduled(id, 'p1');
    await fx.api('PUT', `/v1/maintenance/${id}/p1`, { state: 'ACK_MAINTENANCE' });
    await fx.waitForState(id, 'MAINTENANCE_FAILED', 15_000);
    const session = await fx.runtime.store.getSession(id);
    expect(session?.failure?.details).toMatchObject({ silent_projects: ['p2'] });
    expect((await fx.api('PUT', `/v1/maintenance/${id}/p2`, { state: 'ACK_MAINTENANCE' })).status).toBe(409);
  });

  it('refuses a maintenance_at that leaves less than the reply window, naming the earliest time, and creates nothing', async () => {
    const before = await dump();
    const { status, body } = await create({ hosts: ['cmp-8'], maintenance_at: fenixTimeIn(1) });
    expect(status).toBe(400);
    expect(body.message).toMatch(
      /^maintenance_at: .*3 s reply window.* earliest accepted now is \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/,
    );
    const earliest = /(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)$/.exec(body.message)?.[1] ?? '';
    expect(await dump()).toBe(before);
    // The time it names is accepted.
    const accepted = await create({ hosts: ['cmp-8'], maintenance_at: earliest });
    expect(accepted.status).toBe(200);
    expect((await fx.api('DELETE', `/v1/maintenance/${accepted.body.session_id}`)).status).toBe(200);
  });
});

describe('Idempotency-Key', () => {
  it('answers a retried creation with the first session and creates nothing more', async () => {
    const body = { state: 'MAINTENANCE', maintenance_at: fenixTimeIn(60), hosts: ['cmp-9'] };
    const first = await fx.api('POST', '/v1/maintenance', body, { 'idempotency-key': 'create-cmp-9' });
    expect(first.status).toBe(200);
    const again = await fx.api('POST', '/v1/maintenance', body, { 'idempotency-key': 'create-cmp-9' });
    expect(again).toEqual(first);
    const other = await fx.api(
      'POST',
      '/v1/maintenance',
      { ...body, hosts: ['cmp-10'] },
      { 'idempotency-key': 'create-cmp-9' },
    );
    expect(other.status).toBe(409);
    expect(other.body.error).toBe('idempotency_key_reused');
    const ids = (await fx.api('GET', '/v1/maintenance')).body.session_id as string[];
    expect(ids.filter((id) => id === first.body.session_id)).toHaveLength(1);
    expect((await fx.api('POST', '/v1/maintenance', body, { 'idempotency-key': 'bad key with spaces' })).status).toBe(
      400,
    );
    await fx.api('DELETE', `/v1/maintenance/${first.body.session_id}`);
  });
});
