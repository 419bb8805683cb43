import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudInstance } from '../../functions/core/model.js';
import { fenixTimeIn } from '../helpers/runtime.js';
import { type OpenStackFixture, startOnLocalCloud } from './fixture.js';

const COMPUTE = { microversion: 'compute 2.88' };

/**
 * A whole session against the real Nova of `npm run openstack:up` (DESIGN §13): four computes
 * holding servers of vnf-a and vnf-b, sample VNFMs replying LIVE_MIGRATE (vnf-a) and MIGRATE
 * (vnf-b), MAINTENANCE_DONE, then Nova's own view: every server ACTIVE on a maintained host and
 * every compute enabled again.
 */
describe('a maintenance session on OpenStack Nova', () => {
  let os: OpenStackFixture;
  beforeAll(async () => {
    // VNFMs and the admin authenticate with their own Keystone credentials, as with Fenix.
    os = await startOnLocalCloud({}, { keystoneAuth: true });
  }, 300_000);
  afterAll(async () => os?.stop(), 300_000);

  it('maintains every compute: servers moved live and cold, all ACTIVE on maintained hosts, every compute enabled again', async () => {
    const { cloud, fx, projects } = os;
    const computes = await cloud.computes();
    expect(computes.length).toBeGreaterThanOrEqual(4);
    // One compute least loaded (PREPARE empties it), the others emptied in PLANNED rounds.
    const layout: [keyof typeof projects, number][] = [
      ['a', 0],
      ['b', 0],
      ['a', 1],
      ['b', 1],
      ['a', 2],
      ['b', 3],
      ['b', 3],
    ];
    const servers: CloudInstance[] = [];
    for (const [index, [project, host]] of layout.entries())
      servers.push(await cloud.boot(projects[project], computes[host] as string, `e2e-${project}-${index}`));

    const started = Date.now();
    const created = await os.api('POST', '/v1/maintenance', {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(6),
      hosts: [],
    });
    expect(created.status).toBe(200);
    const id = created.body.session_id as string;
    const end = await os.endOf(id);
    const seconds = (Date.now() - started) / 1000;
    const detail = (await os.api('GET', `/v1/maintenance/${id}/detail`)).body;
    expect({ state: end.detail.state, failure: detail.session.failure, log: os.log }).toMatchObject({
      state: 'MAINTENANCE_DONE',
    });
    console.log(
      `openstack e2e: ${servers.length} servers on ${computes.length} computes, MAINTENANCE_DONE ${seconds.toFixed(1)} s after create`,
    );

    // Nova's own view: every server still there, ACTIVE with no task, on a maintained host.
    const maintained = new Set(
      (detail.hosts as { name: string; maintained: boolean }[]).filter((h) => h.maintained).map((h) => h.name),
    );
    for (const host of computes) expect(maintained.has(host), host).toBe(true);
    expect((await cloud.allServers()).map((s) => s.id).sort()).toEqual(servers.map((s) => s.id).sort());
    for (const server of servers) {
      const { body } = await cloud.admin.request<{
        server: { status: string; 'OS-EXT-STS:task_state': string | null };
      }>('compute', 'GET', `/servers/${server.id}`, COMPUTE);
      expect({ id: server.id, status: body.server.status, task: body.server['OS-EXT-STS:task_state'] }).toEqual({
        id: server.id,
        status: 'ACTIVE',
        task: null,
      });
    }
    for (const host of await cloud.driver.listHosts())
      if (host.type === 'compute')
        expect({ host: host.name, disabled: host.disabled }).toEqual({ host: host.name, disabled: false });

    // The actions the VNFMs asked for were carried out by Nova, and told when they really ended.
    const done = fx.events.filter((e) => e.detail.session_id === id && e.detail.state === 'INSTANCE_ACTION_DONE');
    expect(done.length).toBeGreaterThanOrEqual(4);
    const { body } = await cloud.admin.request<{
      migrations: { instance_uuid: string; migration_type: string; status: string }[];
    }>('compute', 'GET', '/os-migrations?limit=1000', COMPUTE);
    const ours = body.migrations.filter((m) => servers.some((s) => s.id === m.instance_uuid));
    expect(ours.some((m) => m.migration_type === 'live-migration' && m.status === 'completed')).toBe(true);
    expect(ours.some((m) => m.migration_type === 'migration' && m.status === 'confirmed')).toBe(true);
  }, 300_000);
});
