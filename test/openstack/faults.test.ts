import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fenixTimeIn } from '../helpers/runtime.js';
import { type OpenStackFixture, startOnLocalCloud } from './fixture.js';

const COMPUTE = { microversion: 'compute 2.88' };
const service = (verb: 'start' | 'stop', name: string) =>
  execFileSync('bash', ['scripts/openstack/service.sh', verb, name], { stdio: 'pipe' });

/**
 * What a real Nova does wrong, on the real Nova (DESIGN §13): a server in ERROR that cannot be
 * moved, a compute an operator disabled before the session, Nova's API gone for a while. The
 * session names the cause; no host it did not disable is ever enabled; a continue finishes the job.
 */
describe('faults of a real Nova', () => {
  let os: OpenStackFixture;
  beforeAll(async () => {
    os = await startOnLocalCloud();
  }, 300_000);
  beforeEach(async () => os.reset());
  afterAll(async () => {
    service('start', 'nova-api');
    await os?.stop();
  }, 300_000);

  it('a server in ERROR fails the session naming it and Nova’s refusal; an operator-disabled compute stays disabled; continue finishes', async () => {
    const { cloud, projects } = os;
    const [c1, c2, c3] = (await cloud.computes()) as [string, string, string];
    const broken = await cloud.boot(projects.a, c1, 'fault-broken');
    await cloud.admin.request('compute', 'POST', `/servers/${broken.id}/action`, {
      ...COMPUTE,
      body: { 'os-resetState': { state: 'error' } },
    });
    await cloud.setDisabled(c3, true, 'broken fan');

    const created = await os.api('POST', '/v1/maintenance', {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(6),
      hosts: [c1, c2, c3],
    });
    expect(created.status).toBe(200);
    const id = created.body.session_id as string;
    const failed = await os.endOf(id);
    expect(failed.detail.state).toBe('MAINTENANCE_FAILED');
    const detail = (await os.api('GET', `/v1/maintenance/${id}/detail`)).body;
    console.log(`server in ERROR: ${detail.session.failure}`);
    expect(detail.session.failure).toContain(`LIVE_MIGRATE of instance ${broken.id} (on ${c1}) failed`);
    expect(detail.session.failure).toMatch(/vm_state error|ERROR/);

    // The compute being emptied stays disabled (ours, so nothing lands on it); the operator's
    // compute keeps its state and reason; the empty one is maintained and enabled again.
    const hosts = await cloud.driver.getHosts([c1, c2, c3]);
    expect(hosts[0]).toMatchObject({ disabled: true, disabled_reason: `fenix maintenance ${id}` });
    expect(hosts[1]?.disabled).toBe(false);
    expect(hosts[2]).toMatchObject({ disabled: true, disabled_reason: 'broken fan' });

    // The admin repairs the server and continues: the session finishes.
    await cloud.admin.request('compute', 'POST', `/servers/${broken.id}/action`, {
      ...COMPUTE,
      body: { 'os-resetState': { state: 'active' } },
    });
    const continued = await os.api('PUT', `/v1/maintenance/${id}`, { state: 'START_MAINTENANCE' });
    expect(continued.status).toBe(200);
    expect((await os.endOf(id)).detail.state).toBe('MAINTENANCE_DONE');
    const after = await cloud.driver.getHosts([c1, c2, c3]);
    expect(after.map((h) => h?.disabled)).toEqual([false, false, true]);
    expect(after[2]?.disabled_reason).toBe('broken fan');
    expect((await cloud.driver.getInstance(broken.id))?.host).not.toBe(c1);
    await cloud.setDisabled(c3, false, '');
  });

  it('Nova unreachable for a while: the session names it, or rides it out; either way a continue finishes', async () => {
    const { cloud, projects } = os;
    const computes = await cloud.computes();
    for (const [index, host] of computes.slice(0, 2).entries())
      await cloud.boot(index === 0 ? projects.a : projects.b, host, `outage-${index}`);
    const created = await os.api('POST', '/v1/maintenance', {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(6),
      hosts: computes.slice(0, 2),
    });
    const id = created.body.session_id as string;
    // Nova's API goes away as the first host goes into maintenance, for longer than one step's retries.
    await os.fx.waitForEvent((e) => e['detail-type'] === 'maintenance.host' && e.detail.session_id === id, 120_000);
    const ending = os.endOf(id);
    service('stop', 'nova-api');
    await new Promise((done) => setTimeout(done, 15_000));
    service('start', 'nova-api');
    const end = await ending;
    console.log(`nova-api down 15 s: the session ended ${end.detail.state}`);
    if (end.detail.state === 'MAINTENANCE_FAILED') {
      const detail = (await os.api('GET', `/v1/maintenance/${id}/detail`)).body;
      console.log(`nova-api down: ${detail.session.failure}`);
      expect(detail.session.failure).toMatch(/nova|compute/i);
      expect(detail.session.failure).toMatch(/unreachable|ECONNREFUSED/);
      const continued = await os.api('PUT', `/v1/maintenance/${id}`, { state: 'START_MAINTENANCE' });
      expect(continued.status).toBe(200);
      expect((await os.endOf(id)).detail.state).toBe('MAINTENANCE_DONE');
    } else {
      expect(end.detail.state).toBe('MAINTENANCE_DONE');
    }
    for (const host of await cloud.driver.getHosts(computes.slice(0, 2))) expect(host?.disabled).toBe(false);
  });
});
