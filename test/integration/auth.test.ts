import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalKeys } from '../../local/jwt.js';
import { fenixTimeIn, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

const inventory = {
  hosts: [
    { name: 'c-1', type: 'compute', vcpus: 8 },
    { name: 'c-2', type: 'compute', vcpus: 8 },
  ],
  instances: [
    { id: 'a-1', name: 'a-1', project_id: 'alpha', host: 'c-1', vcpus: 1 },
    { id: 'b-1', name: 'b-1', project_id: 'beta', host: 'c-1', vcpus: 1 },
  ],
};

let fx: TestRuntime;
let sessionId: string;
const unknown = '00000000-0000-4000-8000-000000000000';
beforeAll(async () => {
  fx = await startTestRuntime({ inventory, env: { FENIX_PROJECT_MAINTENANCE_REPLY: '30' } });
  const created = await fx.api('POST', '/v1/maintenance', {
    state: 'MAINTENANCE',
    maintenance_at: fenixTimeIn(120),
    hosts: ['c-1'],
  });
  sessionId = created.body.session_id;
  await fx.waitForEvent((e) => e.detail.session_id === sessionId && e.detail.project_id === 'beta');
});
afterAll(async () => fx.stop());

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

const routes = (): [string, string, unknown?][] => [
  ['POST', '/v1/maintenance', { state: 'MAINTENANCE', maintenance_at: fenixTimeIn(120), hosts: ['c-2'] }],
  ['GET', '/v1/maintenance'],
  ['GET', `/v1/maintenance/${sessionId}`],
  ['DELETE', `/v1/maintenance/${unknown}`],
  ['PUT', `/v1/maintenance/${unknown}`, { state: 'MAINTENANCE' }],
  ['POST', `/v1/maintenance/${unknown}`, { state: 'MAINTENANCE' }],
  ['GET', `/v1/maintenance/${sessionId}/alpha`],
  ['PUT', `/v1/maintenance/${sessionId}/alpha`, { state: 'ACK_MAINTENANCE' }],
  ['GET', '/sim/v1/hosts'],
  ['GET', '/sim/v1/instances'],
  ['PUT', '/v1/instance/a-1', { migration_type: 'MIGRATE' }],
  ['GET', '/v1/instance/a-1'],
  ['DELETE', '/v1/instance/a-1'],
  ['PUT', '/v1/instance_group/g-1', { anti_affinity_group: true }],
  ['GET', '/v1/instance_group/g-1'],
  ['DELETE', '/v1/instance_group/g-1'],
];

/** A well-formed admin token from a key pair the runtime does not trust. */
const otherKeysToken = await LocalKeys.load(mkdtempSync(join(tmpdir(), 'fenix-other-keys-'))).issue({ admin: true });

describe('authentication', () => {
  const now = Math.floor(Date.now() / 1000);
  const forged = {
    'no token': { authorization: '' },
    'not a bearer token': { authorization: 'Basic YWRtaW46YWRtaW4=' },
    'garbage token': bearer('not.a.jwt'),
    'alg none': bearer(
      `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: 'https://fenix.local', aud: 'fenix', exp: now + 600, scope: 'fenix/admin' })}.`,
    ),
    'HS256 key confusion': bearer(
      `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ iss: 'https://fenix.local', aud: 'fenix', exp: now + 600, scope: 'fenix/admin' })}.c2ln`,
    ),
    'signed by another key': bearer(otherKeysToken),
  };

  it.each(Object.entries(forged))('answers 401 on every route with %s', async (_, headers) => {
    for (const [method, path, body] of routes()) {
      const response = await fx.api(method, path, body, headers as Record<string, string>);
      expect(response.status, `${method} ${path}`).toBe(401);
      expect(response.body.error).toBe('unauthorized');
    }
    expect((await fx.api('GET', '/v1/maintenance')).body.session_id).toHaveLength(1);
  });

  it('refuses an expired token', async () => {
    const expired = await fx.token({ admin: true, ttlSeconds: 1 });
    await new Promise((resolve) => setTimeout(resolve, 2100)); // the token's own lifetime: nothing to await
    expect((await fx.api('GET', '/v1/maintenance', undefined, bearer(expired))).status).toBe(401);
  });
});

describe('authorization', () => {
  it('keeps project tokens off the admin routes', async () => {
    const alpha = bearer(await fx.token({ project: 'alpha' }));
    for (const [method, path, body] of routes().slice(0, 4)) {
      const response = await fx.api(method, path, body, alpha);
      expect(response.status, `${method} ${path}`).toBe(403);
    }
  });

  it('lets a project read and answer for itself only, and records who replied', async () => {
    const alpha = bearer(await fx.token({ project: 'alpha' }));
    expect(await fx.api('GET', `/v1/maintenance/${sessionId}/alpha`, undefined, alpha)).toEqual({
      status: 200,
      body: { instance_ids: ['a-1'] },
    });
    // Another project's data, or an unknown session, gives nothing away: 403 before any lookup.
    expect((await fx.api('GET', `/v1/maintenance/${sessionId}/beta`, undefined, alpha)).status).toBe(403);
    expect(
      (await fx.api('PUT', `/v1/maintenance/${sessionId}/beta`, { state: 'NACK_MAINTENANCE' }, alpha)).status,
    ).toBe(403);
    expect((await fx.api('GET', `/v1/maintenance/${unknown}/beta`, undefined, alpha)).status).toBe(403);

    expect(
      (await fx.api('PUT', `/v1/maintenance/${sessionId}/alpha`, { state: 'ACK_MAINTENANCE' }, alpha)).status,
    ).toBe(200);
    const session = await fx.runtime.store.getSession(sessionId);
    const member = await fx.runtime.store.getMember(sessionId, session?.round_seq ?? 0, 'alpha');
    expect(member).toMatchObject({ status: 'REPLIED', replied_by: 'vnfm-alpha' });
    // beta's round membership is untouched.
    expect((await fx.runtime.store.getMember(sessionId, session?.round_seq ?? 0, 'beta'))?.status).toBe('EXPECTED');
  });

  it("keeps a project to its own constraints: another project's is a 404, as an unknown one", async () => {
    const alpha = bearer(await fx.token({ project: 'alpha' }));
    const beta = bearer(await fx.token({ project: 'beta' }));
    expect((await fx.api('PUT', '/v1/instance/a-1', { lead_time: 30 }, alpha)).status).toBe(200);
    expect((await fx.api('PUT', '/v1/instance_group/g-alpha', {}, alpha)).status).toBe(200);
    for (const path of ['/v1/instance/a-1', '/v1/instance_group/g-alpha']) {
      expect((await fx.api('GET', path, undefined, beta)).status, path).toBe(404);
      expect((await fx.api('DELETE', path, undefined, beta)).status, path).toBe(404);
      expect((await fx.api('PUT', path, {}, beta)).status, path).toBe(404);
      expect((await fx.api('GET', path)).body.project_id, path).toBe('alpha'); // the admin sees it, unchanged
      expect((await fx.api('DELETE', path, undefined, alpha)).status, path).toBe(200);
    }
    // Beta's own instance is beta's to describe, not alpha's.
    expect((await fx.api('PUT', '/v1/instance/b-1', {}, alpha)).status).toBe(404);
    expect((await fx.api('PUT', '/v1/instance/b-1', {}, beta)).status).toBe(200);
    expect((await fx.api('DELETE', '/v1/instance/b-1', undefined, beta)).status).toBe(200);
  });

  it('lets an admin act for any project', async () => {
    expect((await fx.api('GET', `/v1/maintenance/${sessionId}/beta`)).body).toEqual({ instance_ids: ['b-1'] });
  });

  it('limits a project token to its own instances on the simulator API', async () => {
    const alpha = bearer(await fx.token({ project: 'alpha' }));
    expect(
      (await fx.api('GET', '/sim/v1/instances', undefined, alpha)).body.instances.map((i: { id: string }) => i.id),
    ).toEqual(['a-1']);
    expect((await fx.api('GET', '/sim/v1/instances?project_id=beta', undefined, alpha)).status).toBe(403);
    expect((await fx.api('POST', '/sim/v1/instances/b-1/move', {}, alpha)).status).toBe(403);
    expect((await fx.api('DELETE', '/sim/v1/instances/b-1', undefined, alpha)).status).toBe(403);
    expect((await fx.api('POST', '/sim/v1/instances', { name: 'x', project_id: 'beta', vcpus: 1 }, alpha)).status).toBe(
      403,
    );
    expect((await fx.runtime.cloud.getInstance('b-1'))?.host).toBe('c-1');
  });
});

describe('npm run token', () => {
  it('prints exactly one line: a token the runtime accepts', () => {
    const run = (...args: string[]) =>
      execFileSync('npx', ['tsx', 'scripts/token.ts', ...args], {
        env: { ...process.env, FENIX_DATA_DIR: fx.runtime.dataDir },
        encoding: 'utf8',
      });
    const admin = run('--admin');
    expect(admin.split('\n')).toHaveLength(2); // the line and its newline
    const claims = JSON.parse(Buffer.from(admin.split('.')[1] as string, 'base64url').toString('utf8'));
    expect(claims).toMatchObject({ scope: 'fenix/admin', iss: 'https://fenix.local', aud: 'fenix' });
    expect(claims.exp - claims.iat).toBe(12 * 3600);
    const project = run('--project', 'alpha', '--ttl', '60');
    const projectClaims = JSON.parse(Buffer.from(project.split('.')[1] as string, 'base64url').toString('utf8'));
    expect(projectClaims).toMatchObject({ 'fenix:project_id': 'alpha', scope: 'fenix/project' });
    expect(projectClaims.exp - projectClaims.iat).toBe(60);
    return fx
      .api('GET', '/v1/maintenance', undefined, bearer(admin.trim()))
      .then((response) => expect(response.status).toBe(200));
  });
});
