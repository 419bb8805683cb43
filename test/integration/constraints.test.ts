import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoConstraintStore } from '../../functions/adapters/dynamo/constraints.js';
import { groupConstraintKey, instanceConstraintKey } from '../../functions/adapters/dynamo/keys.js';
import { ConflictError } from '../../functions/core/errors.js';
import { dynamo } from '../../functions/shared/clients.js';
import { TABLE_NAME } from '../../local/runtime.js';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

/**
 * Instance constraints (DESIGN §12) through the real local runtime: who may read and write them,
 * what a body may hold, that an instance constraint needs the cloud's instance of that project, the
 * stored object and its defaults, persistence across a restart, and the simulated cloud keeping
 * anti-affinity and `max_instances_per_host` on every move and placement (its /sim/v1 API and the
 * driver the engine calls).
 */

const inventory = {
  hosts: ['c-1', 'c-2', 'c-3', 'c-4'].map((name) => ({ name, type: 'compute', vcpus: 8 })),
  instances: [
    { id: 'a-1', name: 'alpha-ha-1', project_id: 'alpha', host: 'c-1', vcpus: 1 },
    { id: 'a-2', name: 'alpha-ha-2', project_id: 'alpha', host: 'c-2', vcpus: 1 },
    { id: 'a-3', name: 'alpha-3', project_id: 'alpha', host: 'c-3', vcpus: 1 },
    { id: 'a-4', name: 'alpha-4', project_id: 'alpha', host: 'c-3', vcpus: 1 },
    { id: 'b-1', name: 'beta-1', project_id: 'beta', host: 'c-1', vcpus: 1 },
  ],
};

// Kept by the file (not the runtime) so that the persistence test can restart on it.
const dataDir = mkdtempSync(join(tmpdir(), 'fenix-constraints-'));
let fx: TestRuntime;
let as: { alpha: Record<string, string>; beta: Record<string, string>; bare: Record<string, string> };
beforeAll(async () => {
  fx = await startTestRuntime({ inventory, dataDir });
  const bearer = async (request: { project?: string }) => ({
    authorization: `Bearer ${await fx.token(request)}`,
  });
  as = { alpha: await bearer({ project: 'alpha' }), beta: await bearer({ project: 'beta' }), bare: await bearer({}) };
});
afterAll(async () => {
  await fx?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const anonymous = { authorization: '' };
const instance = (id: string) => `/v1/instance/${id}`;
const group = (id: string) => `/v1/instance_group/${id}`;

describe('authorization', () => {
  it('answers 401 without a token and 403 to a token naming no project, on every route', async () => {
    for (const path of [instance('a-1'), group('g-auth')]) {
      for (const [method, body] of [['PUT', {}], ['GET'], ['DELETE']] as const) {
        const unauthenticated = await fx.api(method, path, body, anonymous);
        expect(unauthenticated.status, `${method} ${path}`).toBe(401);
        expect(unauthenticated.body.error).toBe('unauthorized');
        expect((await fx.api(method, path, body, as.bare)).status, `${method} ${path}`).toBe(403);
      }
    }
  });

  it('lets the owner project and an admin read and write, and answers 404 to another project', async () => {
    expect(await fx.api('PUT', instance('a-3'), { migration_type: 'MIGRATE' }, as.alpha)).toEqual({
      status: 200,
      body: {},
    });
    expect((await fx.api('GET', instance('a-3'), undefined, as.alpha)).body.migration_type).toBe('MIGRATE');
    expect((await fx.api('GET', instance('a-3'))).body.project_id).toBe('alpha'); // admin
    // Beta learns nothing: the same 404 as for an instance that has no constraint at all.
    const foreign = await fx.api('GET', instance('a-3'), undefined, as.beta);
    const unknown = await fx.api('GET', instance('a-404'), undefined, as.beta);
    expect(foreign.status).toBe(404);
    expect(foreign.body.message).toBe(unknown.body.message.replace('a-404', 'a-3'));
    expect((await fx.api('DELETE', instance('a-3'), undefined, as.beta)).status).toBe(404);
    expect((await fx.api('PUT', instance('a-3'), {}, as.beta)).status).toBe(404);
    expect((await fx.api('GET', instance('a-3'), undefined, as.alpha)).body.migration_type).toBe('MIGRATE');

    expect((await fx.api('PUT', group('g-auth'), { max_impacted_members: 2 }, as.alpha)).status).toBe(200);
    expect((await fx.api('GET', group('g-auth'), undefined, as.beta)).status).toBe(404);
    expect((await fx.api('PUT', group('g-auth'), {}, as.beta)).status).toBe(404);
    expect((await fx.api('DELETE', group('g-auth'), undefined, as.beta)).status).toBe(404);
    expect((await fx.api('GET', group('g-auth'))).body).toMatchObject({ project_id: 'alpha', max_impacted_members: 2 });
    // An admin names the owner, and may not hand a group to another project.
    const unnamed = await fx.api('PUT', group('g-auth'), {});
    expect(unnamed.status).toBe(400);
    expect(unnamed.body.message).toMatch(/^project_id: required with an admin token/);
    const handOver = await fx.api('PUT', group('g-auth'), { project_id: 'beta' });
    expect(handOver.status).toBe(409);
    expect(handOver.body).toMatchObject({ error: 'owner_mismatch', message: expect.stringContaining('alpha') });
    expect(await fx.api('PUT', group('g-auth'), { project_id: 'alpha', max_impacted_members: 3 })).toEqual({
      status: 200,
      body: {},
    });
    expect((await fx.api('DELETE', group('g-auth'), undefined, as.alpha)).status).toBe(200);
  });

  it("takes an instance constraint only for the cloud's instance of that project", async () => {
    const foreign = await fx.api('PUT', instance('b-1'), {}, as.alpha);
    expect(foreign).toEqual({
      status: 404,
      body: { error: 'not_found', message: 'the cloud has no instance b-1 in project alpha' },
    });
    expect((await fx.api('PUT', instance('no-such-vm'), {}, as.alpha)).body.message).toBe(
      'the cloud has no instance no-such-vm in project alpha',
    );
    // An admin may know the owner: it is named.
    const wrongOwner = await fx.api('PUT', instance('b-1'), { project_id: 'alpha' });
    expect(wrongOwner.status).toBe(400);
    expect(wrongOwner.body.message).toBe('project_id: instance b-1 belongs to project beta, not alpha');
    expect((await fx.api('PUT', instance('no-such-vm'), { project_id: 'alpha' })).status).toBe(404);
    expect((await fx.api('PUT', instance('b-1'), { project_id: 'beta' })).status).toBe(200);
    expect((await fx.api('DELETE', instance('b-1'))).status).toBe(200);
  });
});

describe('validation', () => {
  it.each([
    [{ migration_type: 'TELEPORT' }, /^migration_type: migration_type must be one of MIGRATE, LIVE_MIGRATE/],
    [{ migration_type: 'migrate' }, /^migration_type:/],
    [{ lead_time: -1 }, /^lead_time: lead_time must not be negative/],
    [{ lead_time: 1.5 }, /^lead_time: lead_time must be a whole number of seconds/],
    [{ lead_time: 86_401 }, /^lead_time: lead_time must be at most 86400 seconds/],
    [{ max_interruption_time: '120' }, /^max_interruption_time:/],
    [{ resource_mitigation: 'yes' }, /^resource_mitigation: resource_mitigation must be true or false/],
    [{ group_id: '../g' }, /^group_id:/],
    [{ group_id: '' }, /^group_id:/],
    [{ instance_name: 'x\u0000y' }, /^instance_name: instance_name must not hold control characters/],
    [{ instance_name: 'x'.repeat(256) }, /^instance_name:/],
    [{ colour: 'red' }, /^unknown field: colour$/],
    [{ instance_id: 'a-2' }, /^instance_id: must be the id in the path \(a-1\)$/],
    [{ project_id: 'beta' }, /^project_id: must be the token's project \(alpha\)$/],
  ])('PUT /v1/instance refuses %j naming the field', async (body, message) => {
    const answer = await fx.api('PUT', instance('a-1'), body, as.alpha);
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ error: 'invalid_request', message: expect.stringMatching(message) });
  });

  it.each([
    [{ max_impacted_members: 0 }, /^max_impacted_members: max_impacted_members must be at least 1/],
    [{ max_impacted_members: 2.5 }, /^max_impacted_members: max_impacted_members must be a whole number/],
    [{ max_instances_per_host: -1 }, /^max_instances_per_host: max_instances_per_host must be at least 0/],
    [{ recovery_time: -5 }, /^recovery_time: recovery_time must not be negative/],
    [{ anti_affinity_group: 1 }, /^anti_affinity_group: anti_affinity_group must be true or false/],
    [{ group_name: null }, /^group_name: group_name must be a string/],
    [{ group_id: 'g-other' }, /^group_id: must be the id in the path \(g-1\)$/],
    [{ members: ['a-1'] }, /^unknown field: members$/],
  ])('PUT /v1/instance_group refuses %j naming the field', async (body, message) => {
    const answer = await fx.api('PUT', group('g-1'), body, as.alpha);
    expect(answer.status).toBe(400);
    expect(answer.body.message).toMatch(message);
  });

  it('refuses ids that are not names, and bodies that are not objects, storing nothing', async () => {
    const before = await fx.dumpTable();
    for (const path of [instance('a%201'), group('g%2F1'), instance('%00'), group('x'.repeat(200))]) {
      for (const method of ['PUT', 'GET', 'DELETE']) {
        const answer = await fx.api(method, path, method === 'PUT' ? {} : undefined, as.alpha);
        expect(answer.status, `${method} ${path}`).toBe(400);
      }
    }
    for (const body of ['[]', 'null', '"x"', '{"lead_time": 1, "lead_time": 2}']) {
      expect((await fx.api('PUT', instance('a-1'), body, as.alpha)).status, body).toBe(400);
    }
    expect((await fx.api('DELETE', instance('a-1'), {}, as.alpha)).status).toBe(400); // DELETE takes no body
    expect(await fx.dumpTable()).toBe(before);
  });
});

describe('the stored objects', () => {
  it('creates with the defaults filled, replaces whole, and deletes (then 404)', async () => {
    expect((await fx.api('PUT', instance('a-4'), {}, as.alpha)).status).toBe(200);
    expect((await fx.api('GET', instance('a-4'), undefined, as.alpha)).body).toEqual({
      instance_id: 'a-4',
      project_id: 'alpha',
      group_id: null,
      instance_name: 'alpha-4',
      max_interruption_time: null,
      migration_type: null,
      resource_mitigation: false,
      lead_time: null,
    });
    const full = {
      instance_id: 'a-4',
      project_id: 'alpha',
      group_id: 'g-rt',
      instance_name: 'db-0',
      max_interruption_time: 120,
      migration_type: 'LIVE_MIGRATE',
      resource_mitigation: true,
      lead_time: 40,
    };
    expect((await fx.api('PUT', instance('a-4'), full, as.alpha)).status).toBe(200);
    expect((await fx.api('GET', `${instance('a-4')}/`, undefined, as.alpha)).body).toEqual(full);
    // A PUT replaces: what it leaves out goes back to its default.
    expect((await fx.api('PUT', instance('a-4'), { lead_time: 5 }, as.alpha)).status).toBe(200);
    expect((await fx.api('GET', instance('a-4'), undefined, as.alpha)).body).toMatchObject({
      group_id: null,
      migration_type: null,
      lead_time: 5,
      instance_name: 'alpha-4',
    });

    expect((await fx.api('PUT', group('g-rt'), {}, as.alpha)).status).toBe(200);
    expect((await fx.api('GET', group('g-rt'), undefined, as.alpha)).body).toEqual({
      group_id: 'g-rt',
      project_id: 'alpha',
      group_name: '',
      anti_affinity_group: false,
      max_instances_per_host: 0,
      max_impacted_members: 1,
      recovery_time: 0,
      resource_mitigation: false,
    });
    const ha = {
      group_id: 'g-rt',
      project_id: 'alpha',
      group_name: 'alpha_ha_app_group',
      anti_affinity_group: true,
      max_instances_per_host: 1,
      max_impacted_members: 1,
      recovery_time: 4,
      resource_mitigation: true,
    };
    expect((await fx.api('PUT', group('g-rt'), ha, as.alpha)).status).toBe(200);
    expect((await fx.api('GET', group('g-rt'))).body).toEqual(ha);

    for (const path of [instance('a-4'), group('g-rt')]) {
      expect(await fx.api('DELETE', path, undefined, as.alpha)).toEqual({ status: 200, body: {} });
      expect((await fx.api('GET', path, undefined, as.alpha)).status).toBe(404);
      expect((await fx.api('DELETE', path, undefined, as.alpha)).status).toBe(404);
    }
  });

  it('keeps each constraint in a partition of its own, and lists a group by its own project only', async () => {
    await fx.api('PUT', group('g-own'), { anti_affinity_group: true }, as.alpha);
    await fx.api('PUT', instance('a-3'), { group_id: 'g-own' }, as.alpha);
    await fx.api('PUT', instance('b-1'), { group_id: 'g-own' }, as.beta); // beta naming alpha's group
    const store = DynamoConstraintStore(dynamo(), TABLE_NAME);
    expect((await store.listGroupInstances('g-own')).map((member) => member.instance_id)).toEqual(['a-3']);
    expect((await store.getInstances(['b-1', 'nope', 'a-3', 'b-1'])).map((c) => c?.project_id)).toEqual([
      'beta',
      undefined,
      'alpha',
      'beta',
    ]);
    expect((await store.getGroups(['g-own', 'g-none'])).map((g) => g?.anti_affinity_group)).toEqual([true, undefined]);
    const { GetCommand } = await import('@aws-sdk/lib-dynamodb');
    const item = await dynamo().send(new GetCommand({ TableName: TABLE_NAME, Key: instanceConstraintKey('a-3') }));
    expect(item.Item).toMatchObject({ pk: 'CONSTRAINT#INSTANCE#a-3', gsi1pk: 'CONSTRAINT#MEMBERS#g-own' });
    const groupItem = await dynamo().send(new GetCommand({ TableName: TABLE_NAME, Key: groupConstraintKey('g-own') }));
    expect(groupItem.Item?.project_id).toBe('alpha');
    await fx.api('DELETE', instance('b-1'));
    await fx.api('DELETE', instance('a-3'));
    await fx.api('DELETE', group('g-own'));
  });
});

describe('the simulated cloud keeps the placement rules', () => {
  const move = (id: string, host?: string, headers = as.alpha) =>
    fx.api('POST', `/sim/v1/instances/${id}/move`, host ? { host } : {}, headers);
  const hostOf = async (id: string) => (await fx.runtime.cloud.getInstance(id))?.host;

  beforeAll(async () => {
    // The HA pair a-1 (c-1) and a-2 (c-2): anti-affine, one per host.
    await fx.api('PUT', group('g-ha'), { anti_affinity_group: true, max_instances_per_host: 1 }, as.alpha);
    for (const id of ['a-1', 'a-2']) await fx.api('PUT', instance(id), { group_id: 'g-ha' }, as.alpha);
  });

  it('refuses with 409 a move through /sim/v1 that puts two anti-affine members on one host', async () => {
    const refused = await move('a-1', 'c-2');
    expect(refused.status).toBe(409);
    expect(refused.body).toEqual({
      error: 'placement_constraint',
      message:
        'instance a-1 may not move to c-2: instance group g-ha is anti-affine and host c-2 already has its member a-2',
    });
    expect(await hostOf('a-1')).toBe('c-1');
    // Another project's instance (b-1 on c-1) is no member: a-2 may go there once a-1 has left.
    expect((await move('a-1', 'c-3')).body.host).toBe('c-3');
    expect((await move('a-2', 'c-1')).body.host).toBe('c-1');
    // Without a host named, the simulator picks one that keeps the rule.
    const picked = await move('a-2');
    expect(picked.status).toBe(200);
    expect(picked.body.host).not.toBe('c-3');
  });

  it('refuses the same through the driver the engine calls, and places within the rules when no target is given', async () => {
    const cloud = fx.runtime.cloud;
    const a1 = await cloud.getInstance('a-1');
    const a2 = await cloud.getInstance('a-2');
    if (!a1 || !a2) throw new Error('instances missing');
    await expect(cloud.startAction(a1, 'LIVE_MIGRATE', a2.host)).rejects.toThrow(ConflictError);
    await expect(cloud.startAction(a1, 'MIGRATE', a2.host)).rejects.toThrow(/anti-affine/);
    const started = await cloud.startAction(a1, 'MIGRATE');
    expect(started.driver?.host).not.toBe(a2.host);
    expect(await hostOf('a-1')).toBe(started.driver?.host);
  });

  it('answers 409 no_capacity naming the group when no host with room keeps the rules', async () => {
    // a-3 and a-4 (both on c-3) join g-ha: the group now has a member on every host but one, and
    // with c-4 disabled no host is left for a move.
    for (const id of ['a-3', 'a-4']) await fx.api('PUT', instance(id), { group_id: 'g-ha' }, as.alpha);
    const hosts = new Set(await Promise.all(['a-1', 'a-2', 'a-3'].map(hostOf)));
    const free = ['c-1', 'c-2', 'c-3', 'c-4'].filter((host) => !hosts.has(host));
    for (const host of free) await fx.runtime.cloud.setDisabled(host, true);
    try {
      const refused = await move('a-1');
      expect(refused.status).toBe(409);
      expect(refused.body).toMatchObject({ error: 'no_capacity', message: expect.stringContaining('g-ha') });
    } finally {
      for (const host of free) await fx.runtime.cloud.setDisabled(host, false);
      for (const id of ['a-3', 'a-4']) await fx.api('DELETE', instance(id), undefined, as.alpha);
    }
  });

  it('keeps max_instances_per_host on creations with a group_id, and refuses another project group', async () => {
    await fx.api('PUT', group('g-pack'), { max_instances_per_host: 2 }, as.alpha);
    const create = (host?: string) =>
      fx.api(
        'POST',
        '/sim/v1/instances',
        { name: 'pack', project_id: 'alpha', vcpus: 1, group_id: 'g-pack', ...(host ? { host } : {}) },
        as.alpha,
      );
    for (let i = 0; i < 2; i++) {
      const created = await create('c-4');
      expect(created.status).toBe(200);
      expect((await fx.api('PUT', instance(created.body.id), { group_id: 'g-pack' }, as.alpha)).status).toBe(200);
    }
    const third = await create('c-4');
    expect(third.status).toBe(409);
    expect(third.body).toMatchObject({
      error: 'placement_constraint',
      message: expect.stringContaining('at most 2 members per host'),
    });
    const elsewhere = await create();
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.body.host).not.toBe('c-4');
    const foreign = await fx.api(
      'POST',
      '/sim/v1/instances',
      { name: 'x', project_id: 'beta', vcpus: 1, group_id: 'g-pack' },
      as.beta,
    );
    expect(foreign.status).toBe(404);
    // A move into the full host is refused too; the group's rule goes with its constraint.
    const [member] = (await DynamoConstraintStore(dynamo(), TABLE_NAME).listGroupInstances('g-pack')).filter(
      (m) => m.instance_id !== elsewhere.body.id,
    );
    expect(member).toBeDefined();
    const outsider = await create('c-1');
    await fx.api('PUT', instance(outsider.body.id), { group_id: 'g-pack' }, as.alpha);
    expect((await move(outsider.body.id, 'c-4')).status).toBe(409);
    await fx.api('DELETE', group('g-pack'), undefined, as.alpha);
    expect((await move(outsider.body.id, 'c-4')).status).toBe(200);
  });

  it('lets only one of two simultaneous moves land two anti-affine members on one host', async () => {
    await fx.api('PUT', group('g-race'), { anti_affinity_group: true }, as.alpha);
    const made = [];
    for (const host of ['c-1', 'c-2']) {
      const created = await fx.api(
        'POST',
        '/sim/v1/instances',
        { name: 'race', project_id: 'alpha', vcpus: 1, host },
        as.alpha,
      );
      await fx.api('PUT', instance(created.body.id), { group_id: 'g-race' }, as.alpha);
      made.push(created.body.id as string);
    }
    const answers = await Promise.all(made.map((id) => move(id, 'c-3')));
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 409]);
    const hosts = await Promise.all(made.map(hostOf));
    expect(new Set(hosts).size).toBe(2);
  });
});

describe('persistence', () => {
  it('keeps constraints across a restart of the runtime', async () => {
    await fx.api('PUT', group('g-keep'), { anti_affinity_group: true, recovery_time: 9 }, as.alpha);
    await fx.api('PUT', instance('a-2'), { group_id: 'g-keep', lead_time: 30 }, as.alpha);
    await fx.stop();
    fx = await startTestRuntime({ inventory, dataDir });
    as.alpha = { authorization: `Bearer ${await fx.token({ project: 'alpha' })}` };
    expect((await fx.api('GET', group('g-keep'), undefined, as.alpha)).body).toMatchObject({ recovery_time: 9 });
    expect((await fx.api('GET', instance('a-2'), undefined, as.alpha)).body).toMatchObject({
      group_id: 'g-keep',
      lead_time: 30,
    });
  });
});
