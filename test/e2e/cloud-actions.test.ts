import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fenixTimeIn, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

/**
 * Instance actions that take time, and hosts someone else disabled (DESIGN §13), on the simulated
 * cloud: the same workflow path as Nova's — start, then polls from Wait states — with the real ASL,
 * handlers and dynalite. Nobody is subscribed, so every instance gets the default LIVE_MIGRATE.
 */
describe('asynchronous instance actions and foreign disables', () => {
  let fx: TestRuntime;
  beforeAll(async () => {
    fx = await startTestRuntime({
      inventory: {
        hosts: [
          { name: 'c-1', type: 'compute', vcpus: 4 },
          { name: 'c-2', type: 'compute', vcpus: 4 },
          { name: 'c-3', type: 'compute', vcpus: 4 },
          { name: 'c-4', type: 'compute', vcpus: 8 },
        ],
        instances: [
          { name: 'a-1', project_id: 'vnf-a', host: 'c-1', vcpus: 2 },
          { name: 'b-1', project_id: 'vnf-b', host: 'c-2', vcpus: 2 },
        ],
      },
      subscriptions: [],
      env: { FENIX_SIM_ACTION_SECONDS: '2', FENIX_ACTION_POLL_SECONDS: '1', FENIX_PROJECT_MAINTENANCE_REPLY: '3' },
    });
  });
  afterAll(async () => fx?.stop());

  it('polls each move until it ends, tells its owner then, and never enables a host it did not disable', async () => {
    await fx.runtime.cloud.setDisabled('c-3', true, 'broken fan');
    const created = await fx.api('POST', '/v1/maintenance', {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(4),
      hosts: ['c-1', 'c-2', 'c-3'],
    });
    expect(created.status).toBe(200);
    const id = created.body.session_id as string;
    await fx.waitForState(id, 'MAINTENANCE_DONE', 60_000);

    // Each INSTANCE_ACTION_DONE comes when the cloud says the move ended (2 s), not when it started.
    const planned = fx.events.filter(
      (e) =>
        e.detail.session_id === id &&
        e.detail.state === 'PLANNED_MAINTENANCE' &&
        e['detail-type'] === 'maintenance.scheduled',
    );
    const done = fx.events.filter((e) => e.detail.session_id === id && e.detail.state === 'INSTANCE_ACTION_DONE');
    expect(done.map((e) => e.detail.project_id).sort()).toEqual(['vnf-a', 'vnf-b']);
    for (const event of done) {
      const round = planned.find((p) => p.detail.project_id === event.detail.project_id);
      expect(Date.parse(event.time) - Date.parse(round?.time ?? '')).toBeGreaterThanOrEqual(2000);
    }

    // c-3 was maintained but stays as the operator left it; c-1 and c-2 are enabled again.
    const detail = (await fx.api('GET', `/v1/maintenance/${id}/detail`)).body;
    expect((detail.hosts as { name: string; maintained: boolean }[]).map((h) => [h.name, h.maintained]).sort()).toEqual(
      [
        ['c-1', true],
        ['c-2', true],
        ['c-3', true],
      ],
    );
    expect(
      (detail.hosts as { name: string; disabled: boolean; disabled_outside: string | null }[]).map((h) => [
        h.name,
        h.disabled,
        h.disabled_outside,
      ]),
    ).toEqual([
      ['c-1', false, null],
      ['c-2', false, null],
      ['c-3', true, 'broken fan'],
    ]);
    const hosts = await fx.runtime.cloud.getHosts(['c-1', 'c-2', 'c-3']);
    expect(hosts.map((h) => [h?.disabled, h?.disabled_reason])).toEqual([
      [false, undefined],
      [false, undefined],
      [true, 'broken fan'],
    ]);
    // Where the instances went: the cloud's own view agrees with the session's.
    for (const instance of await fx.runtime.cloud.listInstances())
      expect(['c-1', 'c-2', 'c-4']).toContain(instance.host);
  });
});
