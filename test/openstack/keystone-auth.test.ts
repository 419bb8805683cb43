import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenStackClient } from '../../functions/adapters/openstack/client.js';
import {
  InvalidTokenError,
  identityEndpoint,
  KeystoneTokens,
} from '../../functions/adapters/openstack/keystone-tokens.js';
import { cloudEntry } from '../../scripts/openstack/local-cloud.js';
import { shapeOf, TOKEN_BODIES } from '../fixtures/keystone/fake-keystone.js';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

/**
 * Keystone identity against a real Keystone (`npm run openstack:up`): real tokens for the clouds
 * `fenix-admin`, `vnf-a` and `vnf-b` of `.openstack/clouds.yaml` (or OS_CLIENT_CONFIG_FILE), the
 * local runtime with FENIX_AUTH=keystone in front of it. Also checks Keystone answers in the shape
 * of test/fixtures/keystone/tokens.json, which the offline tests (test/security) are built on.
 * Not part of `npm test`: it runs in the OpenStack suite only.
 */

/** A fresh project-scoped token by password, as any OpenStack client gets one, and whose it is. */
const login = async (name: string): Promise<{ token: string; projectId: string; userId: string }> => {
  const client = new OpenStackClient(cloudEntry(name));
  return {
    token: await client.authToken(),
    projectId: (await client.projectId()) ?? '',
    userId: await client.userId(),
  };
};

const keystoneUrl = () => identityEndpoint(cloudEntry('fenix-admin').auth.auth_url);

/** What Keystone answers to a token validating itself: the request Fenix makes. */
const validation = async (token: string) => {
  const response = await fetch(`${keystoneUrl()}/auth/tokens?nocatalog`, {
    headers: { 'x-auth-token': token, 'x-subject-token': token },
  });
  return { status: response.status, body: response.status === 200 ? await response.json() : undefined };
};

const revoke = async (token: string) => {
  const response = await fetch(`${keystoneUrl()}/auth/tokens`, {
    method: 'DELETE',
    headers: { 'x-auth-token': token, 'x-subject-token': token },
  });
  expect(response.status).toBe(204);
};

const as = (token: string) => ({ 'x-auth-token': token });
const SESSION = '00000000-0000-4000-8000-000000000000';

let admin: Awaited<ReturnType<typeof login>>;
let vnfA: Awaited<ReturnType<typeof login>>;
let vnfB: Awaited<ReturnType<typeof login>>;
beforeAll(async () => {
  [admin, vnfA, vnfB] = await Promise.all([login('fenix-admin'), login('vnf-a'), login('vnf-b')]);
});

describe('a real Keystone', () => {
  it.each([
    ['an admin token', () => admin.token, 'admin'],
    ['a project member token', () => vnfA.token, 'vnf-a'],
  ] as const)('answers %s validating itself in the shape of the fixtures', async (_, token, fixture) => {
    const answer = await validation(token());
    expect(answer.status).toBe(200);
    const real = new Set(shapeOf(answer.body));
    const missing = shapeOf(TOKEN_BODIES[fixture]).filter((path) => !real.has(path));
    expect(missing).toEqual([]);
  });

  it('maps the tokens: admin by role, the others to their Keystone project', async () => {
    const tokens = new KeystoneTokens({ url: keystoneUrl() });
    expect(await tokens.validate(admin.token)).toEqual({
      subject: admin.userId,
      admin: true,
      project: admin.projectId,
    });
    expect(await tokens.validate(vnfA.token)).toEqual({ subject: vnfA.userId, admin: false, project: vnfA.projectId });
    expect(await tokens.validate(vnfB.token)).toEqual({ subject: vnfB.userId, admin: false, project: vnfB.projectId });
    expect(vnfA.projectId).not.toBe(vnfB.projectId);
  });

  it('refuses a token it never issued', async () => {
    const tokens = new KeystoneTokens({ url: keystoneUrl() });
    await expect(tokens.validate('gAAAAABnever-issued-by-this-keystone')).rejects.toBeInstanceOf(InvalidTokenError);
  });
});

describe('the local runtime with FENIX_AUTH=keystone, against a real Keystone', () => {
  let fx: TestRuntime;
  beforeAll(async () => {
    fx = await startTestRuntime({ auth: { mode: 'keystone', keystoneUrl: keystoneUrl() } });
  });
  afterAll(async () => fx?.stop());

  it('lets the admin token list sessions', async () => {
    expect(await fx.api('GET', '/v1/maintenance', undefined, as(admin.token))).toEqual({
      status: 200,
      body: { session_id: [] },
    });
  });

  it("lets vnf-a act for its project, and refuses it vnf-b's project and admin routes", async () => {
    const own = await fx.api('GET', `/v1/maintenance/${SESSION}/${vnfA.projectId}`, undefined, as(vnfA.token));
    expect(own).toMatchObject({ status: 404 }); // authorized; there is no such session
    const other = await fx.api('GET', `/v1/maintenance/${SESSION}/${vnfB.projectId}`, undefined, as(vnfA.token));
    expect(other).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    expect((await fx.api('GET', '/v1/maintenance', undefined, as(vnfA.token))).status).toBe(403);
  });

  it('answers 401 to no token and to a garbage one', async () => {
    expect((await fx.api('GET', '/v1/maintenance', undefined, { authorization: '' })).status).toBe(401);
    const garbage = await fx.api('GET', '/v1/maintenance', undefined, as('gAAAAABgarbage'));
    expect(garbage).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
    expect(garbage.body.message).toMatch(/Keystone does not know this token/);
  });

  it('answers 401 to a token revoked before this runtime saw it', async () => {
    const revoked = await login('vnf-a');
    await revoke(revoked.token);
    const response = await fx.api('GET', `/v1/maintenance/${SESSION}/${vnfA.projectId}`, undefined, as(revoked.token));
    expect(response).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
  });

  it('keeps a token it validated at most 5 minutes after its revocation, as the Fenix token cache did', async () => {
    const later = await login('vnf-b');
    const path = `/v1/maintenance/${SESSION}/${vnfB.projectId}`;
    expect((await fx.api('GET', path, undefined, as(later.token))).status).toBe(404);
    await revoke(later.token);
    // Keystone refuses it at once; the runtime's cache still holds the answer it had (≤ 300 s).
    await expect(new KeystoneTokens({ url: keystoneUrl() }).validate(later.token)).rejects.toBeInstanceOf(
      InvalidTokenError,
    );
    expect((await fx.api('GET', path, undefined, as(later.token))).status).toBe(404);
  });
});
