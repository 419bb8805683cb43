import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fenixTimeIn, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

/**
 * Workflow `vnf` (DESIGN §12) on the real local stack: constraints pushed through the API, one
 * notification per instance answered on its own reply URL, moves paced by each group's
 * max_impacted_members and recovery_time, and placement checked against the simulated cloud.
 *
 * The cloud: an HA pair (anti-affine, budget 1, 1 s recovery) on c-1 and c-2, and a group of four
 * (budget 2) on c-1..c-3; c-4 and c-5 are empty. Two hosts may be in flight.
 */

const HA_RECOVERY_SECONDS = 1;

describe('workflow vnf', () => {
  let t: TestRuntime;
  let vnfa: Record<string, string>;
  const ids = new Map<string, string>(); // name → id
  const names = new Map<string, string>(); // id → name
  const refused: string[] = [];
  const sharedHost: string[] = [];

  beforeAll(async () => {
    t = await startTestRuntime({
      inventory: {
        hosts: ['c-1', 'c-2', 'c-3', 'c-4', 'c-5'].map((name) => ({ name, type: 'compute', vcpus: 4 })),
        instances: [
          { name: 'ha-1', project_id: 'vnf-a', host: 'c-1', vcpus: 1 },
          { name: 'ha-2', project_id: 'vnf-a', host: 'c-2', vcpus: 1 },
          { name: 'app-1', project_id: 'vnf-a', host: 'c-1', vcpus: 1 },
          { name: 'app-2', project_id: 'vnf-a', host: 'c-2', vcpus: 1 },
          { name: 'app-3', project_id: 'vnf-a', host: 'c-3', vcpus: 1 },
          { name: 'app-4', project_id: 'vnf-a', host: 'c-3', vcpus: 1 },
        ],
      },
      env: { FENIX_SIM_ACTION_SECONDS: '1' },
    });
    vnfa = { authorization: `Bearer ${await t.token({ project: 'vnf-a' })}` };
    for (const instance of await t.runtime.cloud.listInstances()) {
      ids.set(instance.name, instance.id);
      names.set(instance.id, instance.name);
    }

    // The VNFM's constraints, pushed as it starts.
    const put = async (path: string, body: unknown) => {
      const response = await t.api('PUT', path, body, vnfa);
      expect(response.status, JSON.stringify(response.body)).toBe(200);
    };
    await put('/v1/instance_group/ha', {
      group_name: 'ha',
      anti_affinity_group: true,
      max_instances_per_host: 1,
      max_impacted_members: 1,
      recovery_time: HA_RECOVERY_SECONDS,
    });
    await put('/v1/instance_group/app', { group_name: 'app', max_impacted_members: 2 });
    for (const [name, id] of ids) {
      await put(`/v1/instance/${id}`, {
        instance_name: name,
        group_id: name.startsWith('ha') ? 'ha' : 'app',
        migration_type: name.startsWith('ha') ? 'MIGRATE' : 'LIVE_MIGRATE',
        lead_time: 2,
      });
    }

    // The VNFM: ACKs the project-wide rounds; answers each instance with its migration_type.
    const seen = new Set<number>();
    t.runtime.bus.onEvent((event) => {
      const detail = event.detail as Record<string, any>;
      if (event['detail-type'] !== 'maintenance.scheduled' || seen.has(detail.event_seq)) return;
      seen.add(detail.event_seq);
      if (detail.state === 'INSTANCE_ACTION_DONE') {
        // Never two HA members on one host, after any move.
        t.runtime.cloud.listInstances().then((all) => {
          const ha = all.filter((i) => i.name.startsWith('ha'));
          if (new Set(ha.map((i) => i.host)).size < ha.length) sharedHost.push(ha.map((i) => i.host).join());
        });
        return;
      }
      const url = new URL(detail.reply_url).pathname;
      const body = Array.isArray(detail.instance_ids)
        ? {
            instance_action: names.get(detail.instance_ids[0])?.startsWith('ha') ? 'MIGRATE' : 'LIVE_MIGRATE',
            state: `ACK_${detail.state}`,
          }
        : { state: `ACK_${detail.state}` };
      t.api('PUT', url, body, vnfa)
        .then((response) => {
          if (response.status !== 200) refused.push(`${url} ${response.status} ${response.body.message}`);
        })
        .catch(() => undefined); // cut off by teardown
    });
  });
  afterAll(async () => t?.stop());

  it('notifies and moves each instance on its own, never over a group budget, never two HA members on a host', async () => {
    const created = await t.api('POST', '/v1/maintenance', {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(3),
      hosts: ['c-1', 'c-2', 'c-3', 'c-4', 'c-5'],
      workflow: 'vnf',
      rollout: { max_parallel_hosts: 2 },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const id = created.body.session_id as string;
    await t.waitForState(id, 'MAINTENANCE_DONE', 90_000);
    expect(refused).toEqual([]);
    expect(sharedHost).toEqual([]);

    const events = t.events.filter((e) => e.detail.session_id === id && e['detail-type'] === 'maintenance.scheduled');
    const perInstance = events.filter(
      (e) => Array.isArray(e.detail.instance_ids) && e.detail.state !== 'INSTANCE_ACTION_DONE',
    );
    const done = events.filter((e) => e.detail.state === 'INSTANCE_ACTION_DONE');
    // One notification and one move per instance, each with its own reply URL and lead time.
    expect(perInstance.map((e) => names.get((e.detail.instance_ids as string[])[0] as string)).sort()).toEqual(
      [...ids.keys()].sort(),
    );
    expect(done.length).toBe(6);
    for (const event of perInstance) {
      const instance = (event.detail.instance_ids as string[])[0];
      expect(event.detail.reply_url).toMatch(new RegExp(`/v1/maintenance/${id}/vnf-a/${instance}$`));
      const sent = Date.parse(event.time);
      const replyAt = Date.parse(`${(event.detail.reply_at as string).replace(' ', 'T')}Z`);
      expect(replyAt - sent).toBeGreaterThan(1000);
      expect(replyAt - sent).toBeLessThanOrEqual(2000);
    }

    // Impacted = from its notification until its action is done (+ recovery): count in event order.
    const groupOf = (instance: string) => ((names.get(instance) ?? '').startsWith('ha') ? 'ha' : 'app');
    const budget: Record<string, number> = { ha: 1, app: 2 };
    const impacted: Record<string, Set<string>> = { ha: new Set(), app: new Set() };
    const peak: Record<string, number> = { ha: 0, app: 0 };
    for (const event of [...perInstance, ...done].sort((a, b) => t.events.indexOf(a) - t.events.indexOf(b))) {
      const instance = (event.detail.instance_ids as string[])[0] as string;
      const group = impacted[groupOf(instance)] as Set<string>;
      if (event.detail.state === 'INSTANCE_ACTION_DONE') group.delete(instance);
      else group.add(instance);
      peak[groupOf(instance)] = Math.max(peak[groupOf(instance)] ?? 0, group.size);
    }
    expect(peak).toEqual(budget);
    // The HA group's recovery time: the second member is notified only after the first's move + 1 s.
    const [firstHa, secondHa] = perInstance.filter(
      (e) => groupOf((e.detail.instance_ids as string[])[0] as string) === 'ha',
    );
    const firstHaId = ((firstHa?.detail.instance_ids ?? []) as string[])[0];
    const firstDone = done.find((e) => (e.detail.instance_ids as string[])[0] === firstHaId);
    expect(Date.parse(secondHa?.time ?? '') - Date.parse(firstDone?.time ?? '')).toBeGreaterThanOrEqual(
      HA_RECOVERY_SECONDS * 1000 - 200,
    );

    // At the end: the HA pair on two hosts, every host maintained and enabled.
    const ha = (await t.runtime.cloud.listInstances()).filter((i) => i.name.startsWith('ha'));
    expect(new Set(ha.map((i) => i.host)).size).toBe(2);
    expect((await t.runtime.cloud.listHosts()).filter((h) => h.disabled)).toEqual([]);
  });

  it('refuses a per-instance reply that is not asked for, with a clear 4xx', async () => {
    const created = await t.api('POST', '/v1/maintenance', {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(30),
      hosts: ['c-1'],
    });
    const id = created.body.session_id as string;
    const instance = ids.get('ha-1') as string;
    const reply = (body: unknown, sessionId = id) =>
      t.api('PUT', `/v1/maintenance/${sessionId}/vnf-a/${instance}`, body, vnfa);
    expect((await reply({ instance_action: 'MIGRATE', state: 'ACK_PLANNED_MAINTENANCE' })).body.error).toBe('not_vnf');
    expect((await reply({ instance_action: 'TELEPORT', state: 'ACK_PLANNED_MAINTENANCE' })).status).toBe(400);
    expect((await reply({ instance_action: 'MIGRATE', state: 'ACK_MAINTENANCE' })).status).toBe(400);
    expect((await reply({ instance_action: 'MIGRATE', state: 'ACK_PLANNED_MAINTENANCE', extra: 1 })).status).toBe(400);
    const other = { authorization: `Bearer ${await t.token({ project: 'vnf-b' })}` };
    expect(
      (
        await t.api(
          'PUT',
          `/v1/maintenance/${id}/vnf-a/${instance}`,
          { instance_action: 'MIGRATE', state: 'ACK_PLANNED_MAINTENANCE' },
          other,
        )
      ).status,
    ).toBe(403);
    await t.api('DELETE', `/v1/maintenance/${id}`);
  });
});

describe('workflow vnf: SCALE_IN sized from the group budgets', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    // Full: c-1 and c-2 hold two 1-vCPU instances each and have no room; nothing can be emptied.
    t = await startTestRuntime({
      inventory: {
        hosts: ['c-1', 'c-2'].map((name) => ({ name, type: 'compute', vcpus: 2 })),
        instances: [
          { name: 'ha-1', project_id: 'vnf-a', host: 'c-1', vcpus: 1 },
          { name: 'app-1', project_id: 'vnf-a', host: 'c-1', vcpus: 1 },
          { name: 'ha-2', project_id: 'vnf-a', host: 'c-2', vcpus: 1 },
          { name: 'app-2', project_id: 'vnf-a', host: 'c-2', vcpus: 1 },
        ],
      },
    });
  });
  afterAll(async () => t?.stop());

  it('asks each project for just enough instances to empty a compute, at most a group budget from each group', async () => {
    const vnfa = { authorization: `Bearer ${await t.token({ project: 'vnf-a' })}` };
    const instances = await t.runtime.cloud.listInstances();
    const idOf = (name: string) => instances.find((i) => i.name === name)?.id as string;
    for (const group of ['ha', 'app'])
      expect((await t.api('PUT', `/v1/instance_group/${group}`, { max_impacted_members: 1 }, vnfa)).status).toBe(200);
    for (const instance of instances) {
      const group = instance.name.split('-')[0];
      const put = await t.api('PUT', `/v1/instance/${instance.id}`, { group_id: group }, vnfa);
      expect(put.status).toBe(200);
    }
    t.runtime.bus.onEvent((event) => {
      if (event.detail.state === 'MAINTENANCE' && event['detail-type'] === 'maintenance.scheduled')
        t.api('PUT', new URL(event.detail.reply_url as string).pathname, { state: 'ACK_MAINTENANCE' }, vnfa).catch(
          () => undefined,
        );
    });
    const created = await t.api('POST', '/v1/maintenance', {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(3),
      workflow: 'vnf',
    });
    const id = created.body.session_id as string;
    const scaleIn = await t.waitForEvent(
      (e) =>
        e.detail.session_id === id && e.detail.state === 'SCALE_IN' && e['detail-type'] === 'maintenance.scheduled',
      30_000,
    );
    // Emptying c-1 (the least loaded, by name) needs 2 vCPUs: one instance of each group, c-1's own.
    const asked = await t.api('GET', new URL(scaleIn.detail.instance_ids as string).pathname, undefined, vnfa);
    expect(asked.body.instance_ids).toEqual([idOf('app-1'), idOf('ha-1')].sort());
    await t.api('DELETE', `/v1/maintenance/${id}`);
  });
});
