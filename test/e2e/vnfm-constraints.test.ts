import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FenixClient, instanceOfEvent, parseMaintenanceEvent } from '../../examples/vnfm/client.js';
import { defaultConstraints, startVnfm, type Vnfm } from '../../examples/vnfm/vnfm.js';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

/**
 * The sample VNFM and its client with instance constraints (DESIGN §12): the typed client's
 * constraint calls, the constraints a VNFM pushes at start (Doctor's HA and non-HA groups, or a
 * given set, or none), and its answer to a per-instance event of the `vnf` workflow — the
 * instance's migration_type and ACK, on the event's own reply_url.
 */

const SESSION = '6f1c2a52-6d1e-4b8e-9d0e-3c1f0b7a9e11';
const inventory = {
  hosts: ['c-1', 'c-2', 'c-3'].map((name) => ({ name, type: 'compute', vcpus: 8 })),
  instances: [
    { id: 'ha-0', name: 'vnf-a-ha-0', project_id: 'vnf-a', host: 'c-1', vcpus: 1 },
    { id: 'ha-1', name: 'vnf-a-ha-1', project_id: 'vnf-a', host: 'c-2', vcpus: 1 },
    { id: 'w-0', name: 'vnf-a-nonha-0', project_id: 'vnf-a', host: 'c-1', vcpus: 1 },
    { id: 'b-0', name: 'vnf-b-0', project_id: 'vnf-b', host: 'c-3', vcpus: 1 },
  ],
};

let fx: TestRuntime;
/** Every request the stand-in reply endpoint received. */
const replies: { url: string; body: unknown }[] = [];
let replyServer: Server;
let replyBase: string;
const vnfms: Vnfm[] = [];

beforeAll(async () => {
  fx = await startTestRuntime({ inventory, subscriptions: [] });
  replyServer = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      replies.push({ url: request.url ?? '', body: JSON.parse(body) });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => replyServer.listen(0, '127.0.0.1', resolve));
  replyBase = `http://127.0.0.1:${(replyServer.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const vnfm of vnfms) await vnfm.stop();
  replyServer?.closeAllConnections();
  await new Promise((resolve) => replyServer?.close(resolve));
  await fx?.stop();
});

const start = async (options: Partial<Parameters<typeof startVnfm>[0]> = {}) => {
  const log: string[] = [];
  const vnfm = await startVnfm({
    fenixUrl: fx.url,
    projectId: 'vnf-a',
    token: () => fx.token({ project: 'vnf-a' }),
    log: (line) => log.push(line),
    backoffMs: 10,
    ...options,
  });
  vnfms.push(vnfm);
  return { vnfm, log };
};

/** A `vnf` per-instance event, its reply_url on the stand-in endpoint. */
const instanceEvent = (instanceId: string, state: string, seq: number) => ({
  version: '0',
  id: `e-${seq}`,
  'detail-type': 'maintenance.scheduled',
  source: 'fenix',
  account: '000000000000',
  time: '2026-01-01T00:00:00Z',
  region: 'us-east-1',
  resources: [],
  detail: {
    service: 'fenix',
    session_id: SESSION,
    project_id: 'vnf-a',
    state,
    instance_ids: [instanceId],
    reply_url: `${replyBase}/v1/maintenance/${SESSION}/vnf-a/${instanceId}`,
    allowed_actions: ['MIGRATE', 'LIVE_MIGRATE', 'OWN_ACTION', 'EVICTION'],
    actions_at: '2026-01-01 00:00:40',
    reply_at: '2026-01-01 00:00:40',
    metadata: {},
    event_seq: seq,
  },
});

const post = async (vnfm: Vnfm, body: unknown) =>
  (
    await fetch(vnfm.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  ).status;

describe('FenixClient constraints', () => {
  it('puts, gets and deletes instance and group constraints; a missing one is undefined / false', async () => {
    const client = new FenixClient({ baseUrl: fx.url, token: await fx.token({ project: 'vnf-b' }) });
    await client.putInstanceGroup('g-b', { anti_affinity_group: true, max_impacted_members: 1 });
    await client.putInstanceConstraint('b-0', { group_id: 'g-b', migration_type: 'EVICTION' });
    expect(await client.getInstanceConstraint('b-0')).toMatchObject({ group_id: 'g-b', migration_type: 'EVICTION' });
    expect(await client.getInstanceGroup('g-b')).toMatchObject({ project_id: 'vnf-b', anti_affinity_group: true });
    expect(await client.getInstanceConstraint('ha-0')).toBeUndefined(); // vnf-a's
    await expect(client.putInstanceConstraint('ha-0', {})).rejects.toMatchObject({ status: 404 });
    await expect(client.putInstanceGroup('g-b', { max_impacted_members: 0 })).rejects.toMatchObject({
      status: 400,
      apiMessage: expect.stringMatching(/^max_impacted_members:/),
    });
    expect(await client.deleteInstanceConstraint('b-0')).toBe(true);
    expect(await client.deleteInstanceConstraint('b-0')).toBe(false);
    expect(await client.deleteInstanceGroup('g-b')).toBe(true);
    expect(await client.getInstanceGroup('g-b')).toBeUndefined();
  });

  it('tells a per-instance event from a project-wide one, and replies to one instance by ids', async () => {
    const one = parseMaintenanceEvent(instanceEvent('ha-0', 'PLANNED_MAINTENANCE', 1));
    if (one['detail-type'] !== 'maintenance.scheduled') throw new Error('wrong type');
    expect(instanceOfEvent(one)).toBe('ha-0');
    const projectWide = {
      ...one.detail,
      instance_ids: `${replyBase}/v1/maintenance/${SESSION}/vnf-a`,
      reply_url: `${replyBase}/v1/maintenance/${SESSION}/vnf-a`,
    };
    expect(instanceOfEvent(projectWide)).toBeUndefined();
    expect(instanceOfEvent({ ...one.detail, state: 'INSTANCE_ACTION_DONE' })).toBeUndefined();
    const client = new FenixClient({ baseUrl: replyBase });
    await client.replyInstance(SESSION, 'vnf-a', 'ha-0', {
      instance_action: 'LIVE_MIGRATE',
      state: 'ACK_PLANNED_MAINTENANCE',
    });
    expect(replies.at(-1)).toEqual({
      url: `/v1/maintenance/${SESSION}/vnf-a/ha-0`,
      body: { instance_action: 'LIVE_MIGRATE', state: 'ACK_PLANNED_MAINTENANCE' },
    });
    await expect(client.replyInstanceEvent(projectWide, 'ACK', 'MIGRATE')).rejects.toThrow(/not a per-instance event/);
  });
});

describe('the sample VNFM', () => {
  it("pushes Doctor's HA and non-HA groups and each instance's constraint at start", async () => {
    const { vnfm, log } = await start({ mode: 'live_migrate' });
    expect(vnfm.constraints).toEqual({ groups: ['vnf-a-ha', 'vnf-a-non-ha'], instances: ['ha-0', 'ha-1', 'w-0'] });
    expect(log).toContain('[vnfm vnf-a] constraints: 2 groups and 3 instances stored');
    expect((await fx.api('GET', '/v1/instance_group/vnf-a-ha')).body).toMatchObject({
      project_id: 'vnf-a',
      anti_affinity_group: true,
      max_instances_per_host: 1,
      max_impacted_members: 1,
    });
    expect((await fx.api('GET', '/v1/instance_group/vnf-a-non-ha')).body).toMatchObject({ max_impacted_members: 2 });
    expect((await fx.api('GET', '/v1/instance/ha-1')).body).toMatchObject({
      group_id: 'vnf-a-ha',
      migration_type: 'LIVE_MIGRATE',
      max_interruption_time: 120,
    });
    expect((await fx.api('GET', '/v1/instance/w-0')).body.group_id).toBe('vnf-a-non-ha');
    // The HA pair now keeps apart in the simulated cloud too.
    expect((await fx.api('POST', '/sim/v1/instances/ha-0/move', { host: 'c-2' })).status).toBe(409);
    await vnfm.stop();
    // Stopping deletes nothing unless asked.
    expect((await fx.api('GET', '/v1/instance/ha-0')).status).toBe(200);
  });

  it("answers a per-instance PREPARE/PLANNED event on its reply_url with the instance's migration_type and ACK", async () => {
    await fx.api('PUT', '/v1/instance/w-0', { project_id: 'vnf-a', migration_type: 'EVICTION' });
    const { vnfm } = await start({ constraints: false });
    const before = replies.length;
    expect(await post(vnfm, instanceEvent('w-0', 'PREPARE_MAINTENANCE', 10))).toBe(200);
    expect(await post(vnfm, instanceEvent('ha-1', 'PLANNED_MAINTENANCE', 11))).toBe(200);
    await vnfm.settled();
    expect(replies.slice(before)).toEqual([
      {
        url: `/v1/maintenance/${SESSION}/vnf-a/w-0`,
        body: { instance_action: 'EVICTION', state: 'ACK_PREPARE_MAINTENANCE' },
      },
      {
        url: `/v1/maintenance/${SESSION}/vnf-a/ha-1`,
        body: { instance_action: 'LIVE_MIGRATE', state: 'ACK_PLANNED_MAINTENANCE' },
      },
    ]);
    expect(vnfm.stats).toMatchObject({ handled: { PREPARE_MAINTENANCE: 1, PLANNED_MAINTENANCE: 1 }, errors: 0 });
  });

  it('moves an OWN_ACTION instance itself, within its group rules, before answering OWN_ACTION', async () => {
    const { vnfm } = await start({ mode: 'own_action', deleteConstraintsOnStop: true });
    expect((await fx.api('GET', '/v1/instance/ha-0')).body.migration_type).toBe('OWN_ACTION');
    const before = replies.length;
    await post(vnfm, instanceEvent('ha-0', 'PLANNED_MAINTENANCE', 20));
    await vnfm.settled();
    expect(replies.slice(before).map((reply) => reply.body)).toEqual([
      { instance_action: 'OWN_ACTION', state: 'ACK_PLANNED_MAINTENANCE' },
    ]);
    const [ha0, ha1] = await Promise.all(['ha-0', 'ha-1'].map((id) => fx.runtime.cloud.getInstance(id)));
    expect(ha0?.host).not.toBe('c-1');
    expect(ha0?.host).not.toBe(ha1?.host);
    // Asked to, it deletes what it pushed when it stops.
    await vnfm.stop();
    expect((await fx.api('GET', '/v1/instance/ha-0')).status).toBe(404);
    expect((await fx.api('GET', '/v1/instance_group/vnf-a-ha')).status).toBe(404);
  });

  it('pushes a given set instead (the --constraints file shape), or none', async () => {
    const constraints = defaultConstraints('vnf-a');
    constraints.groups = [{ group_id: 'vnf-a-all', name_contains: '', max_impacted_members: 3 }];
    const { vnfm } = await start({ constraints, deleteConstraintsOnStop: true });
    expect(vnfm.constraints.groups).toEqual(['vnf-a-all']);
    expect((await fx.api('GET', '/v1/instance/ha-0')).body).toMatchObject({
      group_id: 'vnf-a-all',
      migration_type: 'MIGRATE',
    });
    await vnfm.stop();
    const { vnfm: silent } = await start({ constraints: false });
    expect(silent.constraints).toEqual({ groups: [], instances: [] });
    expect((await fx.api('GET', '/v1/instance/ha-0')).status).toBe(404);
  });
});
