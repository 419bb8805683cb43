import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2, APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InvalidTokenError,
  identityEndpoint,
  identityFromKeystone,
  KeystoneTokens,
  type KeystoneTokensOptions,
  KeystoneUnavailableError,
} from '../../functions/adapters/openstack/keystone-tokens.js';
import { makeHandler } from '../../functions/api/keystone-authorizer.js';
import { authorize, identityOf } from '../../functions/shared/auth.js';
import { authFromEnv } from '../../local/runtime.js';
import { type FakeKeystone, startFakeKeystone, TOKEN_BODIES } from '../fixtures/keystone/fake-keystone.js';
import { fenixTimeIn, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

/**
 * Keystone identity (DESIGN §13): tokens in X-Auth-Token, validated against Keystone. Everything
 * here runs against a real HTTP server answering like Keystone's `GET /v3/auth/tokens` (the bodies
 * are test/fixtures/keystone/tokens.json, which test/openstack/keystone-auth.test.ts checks against
 * a real Keystone), so the client's requests, timeouts and parsing are the real ones.
 */

const ADMIN = 'gAAAAABfenix-admin-token';
const VNF_A = 'gAAAAABfenix-vnf-a-token';
const VNF_B = 'gAAAAABfenix-vnf-b-token';
const UNSCOPED = 'gAAAAABfenix-unscoped-token';
const SHORT_LIVED = 'gAAAAABfenix-short-lived';
const EXPIRED = 'gAAAAABfenix-expired';
const NOT_FOUND = 'gAAAAABfenix-not-found';
const BROKEN = 'gAAAAABfenix-keystone-500';
const NOT_A_TOKEN = 'gAAAAABfenix-not-a-token-body';
const NOT_JSON = 'gAAAAABfenix-not-json';
const SLOW = 'gAAAAABfenix-slow';

const PROJECT_A = TOKEN_BODIES['vnf-a'].token.project?.id as string;
const PROJECT_B = TOKEN_BODIES['vnf-b'].token.project?.id as string;
const ADMIN_USER = TOKEN_BODIES.admin.token.user.id;

let keystone: FakeKeystone;
beforeAll(async () => {
  keystone = await startFakeKeystone();
  keystone.tokens.set(ADMIN, { body: 'admin' });
  keystone.tokens.set(VNF_A, { body: 'vnf-a' });
  keystone.tokens.set(VNF_B, { body: 'vnf-b' });
  keystone.tokens.set(UNSCOPED, { body: 'unscoped' });
  keystone.tokens.set(SHORT_LIVED, { body: 'vnf-a', expiresInSeconds: 60 });
  keystone.tokens.set(EXPIRED, { body: 'vnf-a', expiresInSeconds: -10 });
  keystone.tokens.set(NOT_FOUND, { status: 404, raw: '{"error":{"code":404,"title":"Not Found"}}' });
  keystone.tokens.set(BROKEN, { status: 500, raw: '{"error":{"code":500}}' });
  keystone.tokens.set(NOT_A_TOKEN, { status: 200, raw: '{"token":{"methods":["password"]}}' });
  keystone.tokens.set(NOT_JSON, { status: 200, raw: '<html>proxy error</html>' });
  keystone.tokens.set(SLOW, { status: 200, raw: '{}', delayMs: 1500 });
});
afterAll(async () => keystone.close());

/** A validator on the fake's clock, which the tests move. */
const validator = (options: Partial<KeystoneTokensOptions> = {}) =>
  new KeystoneTokens({ url: keystone.url, now: () => keystone.clock.now, ...options });
/** How many validations Keystone received while `act` ran. */
const asked = async (act: () => Promise<unknown>): Promise<number> => {
  const before = keystone.requests.length;
  await act();
  return keystone.requests.length - before;
};
const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

describe('Keystone tokens: validation and mapping', () => {
  it('maps an admin token: subject = the user id, admin = role admin, project = the Keystone project id', async () => {
    expect(await validator().validate(ADMIN)).toEqual({
      subject: ADMIN_USER,
      admin: true,
      project: TOKEN_BODIES.admin.token.project?.id,
    });
  });

  it('maps a project member token to its own project, not admin', async () => {
    expect(await validator().validate(VNF_A)).toEqual({
      subject: TOKEN_BODIES['vnf-a'].token.user.id,
      admin: false,
      project: PROJECT_A,
    });
  });

  it('gives an unscoped token no project (so it may act for none)', async () => {
    const identity = await validator().validate(UNSCOPED);
    expect(identity).toEqual({ subject: TOKEN_BODIES.unscoped.token.user.id, admin: false });
  });

  it('lets the token validate itself: GET /v3/auth/tokens with X-Auth-Token = X-Subject-Token', async () => {
    await validator().validate(VNF_B);
    const request = keystone.requests.at(-1);
    expect(request?.path).toBe('/v3/auth/tokens?nocatalog');
    expect(request?.headers['x-auth-token']).toBe(VNF_B);
    expect(request?.headers['x-subject-token']).toBe(VNF_B);
  });

  it('compares the admin role without case, as oslo.policy does, and reads expiry with microseconds', () => {
    const body = structuredClone(TOKEN_BODIES['vnf-a']) as any;
    body.token.roles = [{ id: 'r', name: 'Admin' }];
    body.token.expires_at = '2030-01-01T12:00:00.123456Z';
    expect(identityFromKeystone(body)).toEqual({
      identity: { subject: body.token.user.id, admin: true, project: PROJECT_A },
      expiresAt: Date.parse('2030-01-01T12:00:00.123Z'),
    });
  });

  it('finds the /v3 endpoint whether the URL names it or not', async () => {
    expect(identityEndpoint('http://keystone:5000')).toBe('http://keystone:5000/v3');
    expect(identityEndpoint('http://keystone:5000/v3/')).toBe('http://keystone:5000/v3');
    expect(identityEndpoint('https://cloud.example/identity')).toBe('https://cloud.example/identity/v3');
    expect(() => identityEndpoint('ftp://keystone')).toThrow(/http/);
    expect(() => identityEndpoint('keystone:5000')).toThrow();
    const origin = new URL(keystone.url).origin;
    expect(await validator({ url: origin }).validate(VNF_A)).toMatchObject({ project: PROJECT_A });
  });

  it.each([
    ['unknown (Keystone: 401 for the token itself)', 'gAAAAABnever-issued', /Keystone does not know this token/],
    ['not found (Keystone: 404)', NOT_FOUND, /Keystone does not know this token/],
    ['past its expires_at', EXPIRED, /expired/],
  ])('refuses a token %s with InvalidTokenError (401)', async (_, token, reason) => {
    const error = await refusal(validator().validate(token));
    expect(error).toBeInstanceOf(InvalidTokenError);
    expect((error as Error).message).toMatch(reason);
  });

  it.each([
    ['an empty token', ''],
    ['two words', 'token with spaces'],
    ['a header injection', 'abc\r\nx-admin: 1'],
    ['9000 characters', 'x'.repeat(9000)],
  ])('refuses %s without asking Keystone', async (_, token) => {
    let error: unknown;
    expect(await asked(async () => (error = await refusal(validator().validate(token))))).toBe(0);
    expect(error).toBeInstanceOf(InvalidTokenError);
    expect((error as Error).message).toBe('malformed token');
  });

  it.each([
    ['answers 500', BROKEN, {}, /Keystone answered 500/],
    ['answers something that is not a token', NOT_A_TOKEN, {}, /Keystone's answer is not a token/],
    ['answers something that is not JSON', NOT_JSON, {}, /Keystone's answer is not JSON/],
    ['does not answer in time', SLOW, { timeoutMs: 200 }, /Keystone did not answer within 200 ms/],
  ])('is unavailable (503, never a pass) when Keystone %s', async (_, token, options, message) => {
    const error = await refusal(validator(options).validate(token));
    expect(error).toBeInstanceOf(KeystoneUnavailableError);
    expect(error).toMatchObject({ statusCode: 503, code: 'keystone_unavailable' });
    expect((error as Error).message).toMatch(message);
  });

  it('is unavailable when Keystone cannot be reached', async () => {
    const closed = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const error = await refusal(validator({ url: `http://127.0.0.1:${closed}/v3` }).validate(VNF_A));
    expect(error).toBeInstanceOf(KeystoneUnavailableError);
    expect((error as Error).message).toMatch(/^Keystone is unreachable \(ECONNREFUSED\)/);
  });
});

describe('Keystone tokens: the cache', () => {
  it('asks Keystone once for a valid token, then answers from the cache', async () => {
    const tokens = validator();
    expect(await asked(() => tokens.validate(VNF_A))).toBe(1);
    expect(await asked(() => tokens.validate(VNF_A))).toBe(0);
  });

  it('keeps a token no longer than its expiry, when that comes first', async () => {
    const tokens = validator();
    await tokens.validate(SHORT_LIVED);
    keystone.clock.now += 59_000;
    expect(await asked(() => tokens.validate(SHORT_LIVED))).toBe(0);
    keystone.clock.now += 2_000;
    expect(await asked(() => tokens.validate(SHORT_LIVED))).toBe(1);
  });

  it('keeps a long-lived token 5 minutes at most', async () => {
    const tokens = validator();
    await tokens.validate(VNF_B);
    keystone.clock.now += 299_000;
    expect(await asked(() => tokens.validate(VNF_B))).toBe(0);
    keystone.clock.now += 2_000;
    expect(await asked(() => tokens.validate(VNF_B))).toBe(1);
  });

  it('keeps a refused token refused for a few seconds only', async () => {
    const tokens = validator();
    const token = 'gAAAAABrevoked-a-moment-ago';
    expect(await asked(() => refusal(tokens.validate(token)))).toBe(1);
    expect(await asked(() => refusal(tokens.validate(token)))).toBe(0);
    keystone.clock.now += 6_000;
    expect(await asked(() => refusal(tokens.validate(token)))).toBe(1);
  });

  it('never caches Keystone being unavailable', async () => {
    const tokens = validator();
    expect(await asked(() => refusal(tokens.validate(BROKEN)))).toBe(1);
    expect(await asked(() => refusal(tokens.validate(BROKEN)))).toBe(1);
  });

  it('is bounded: the oldest entry goes first', async () => {
    const tokens = validator({ maxEntries: 2 });
    await tokens.validate(ADMIN);
    await tokens.validate(VNF_A);
    await tokens.validate(VNF_B);
    expect(tokens.size).toBe(2);
    expect(await asked(() => tokens.validate(VNF_B))).toBe(0);
    expect(await asked(() => tokens.validate(ADMIN))).toBe(1);
  });

  it('keys entries by the SHA-256 of the token, never the token itself', async () => {
    const tokens = validator();
    await tokens.validate(VNF_A);
    const keys = [...(tokens as any).cache.keys()];
    expect(keys).toEqual([createHash('sha256').update(VNF_A).digest('hex')]);
    expect(JSON.stringify([...(tokens as any).cache.values()])).not.toContain(VNF_A);
  });

  it('shares one request among concurrent checks of one token', async () => {
    const tokens = validator();
    expect(await asked(() => Promise.all(Array.from({ length: 5 }, () => tokens.validate(ADMIN))))).toBe(1);
  });
});

describe('the Lambda authorizer (functions/api/keystone-authorizer.ts)', () => {
  const event = (token?: string) =>
    ({
      version: '2.0',
      type: 'REQUEST',
      routeKey: 'GET /v1/maintenance',
      identitySource: token === undefined ? [] : [token],
      headers: token === undefined ? {} : { 'x-auth-token': token },
    }) as unknown as APIGatewayRequestAuthorizerEventV2;
  const authorizer = () => makeHandler(validator());

  it('authorizes a valid token and hands on subject, admin and project', async () => {
    expect(await authorizer()(event(VNF_A))).toEqual({
      isAuthorized: true,
      context: { subject: TOKEN_BODIES['vnf-a'].token.user.id, admin: false, project: PROJECT_A },
    });
    expect(await authorizer()(event(UNSCOPED))).toEqual({
      isAuthorized: true,
      context: { subject: TOKEN_BODIES.unscoped.token.user.id, admin: false },
    });
  });

  it('throws Unauthorized (API Gateway: 401, not cached) for a missing or refused token', async () => {
    await expect(authorizer()(event())).rejects.toThrow(/^Unauthorized$/);
    await expect(authorizer()(event('gAAAAABnever-issued'))).rejects.toThrow(/^Unauthorized$/);
  });

  it('fails (API Gateway: 500) when Keystone cannot say: never authorized', async () => {
    const error = await refusal(authorizer()(event(BROKEN)));
    expect(error).toBeInstanceOf(KeystoneUnavailableError);
  });
});

describe('identityOf and authorize read the Lambda authorizer context', () => {
  const event = (lambda: Record<string, unknown>) =>
    ({ requestContext: { authorizer: { lambda } } }) as unknown as APIGatewayProxyEventV2;

  it('reads an admin and a project identity', () => {
    expect(identityOf(event({ subject: 'u1', admin: true }))).toEqual({ subject: 'u1', admin: true });
    expect(identityOf(event({ subject: 'u2', admin: false, project: 'p1' }))).toEqual({
      subject: 'u2',
      admin: false,
      project: 'p1',
    });
    expect(identityOf(event({ subject: 'u3', admin: 'true', project: '' }))).toEqual({ subject: 'u3', admin: true });
  });

  it('lets a project identity act for its project only', () => {
    const vnf = event({ subject: 'u2', admin: false, project: 'p1' });
    expect(authorize(vnf, 'project', { project_id: 'p1' })).toMatchObject({ project: 'p1' });
    expect(() => authorize(vnf, 'project', { project_id: 'p2' })).toThrow(/own project/);
    expect(() => authorize(vnf, 'admin', {})).toThrow(/fenix\/admin/);
    expect(authorize(event({ subject: 'a', admin: true }), 'admin', {})).toMatchObject({ admin: true });
  });

  it('refuses a context without a subject as unauthenticated', () => {
    expect(identityOf(event({ admin: true }))).toBeUndefined();
    expect(() => authorize(event({ admin: true }), 'admin', {})).toThrow(/required/);
  });
});

describe('FENIX_AUTH', () => {
  it('defaults to the local JWTs', () => {
    expect(authFromEnv({})).toEqual({ mode: 'jwt' });
    expect(authFromEnv({ FENIX_AUTH: 'jwt' })).toEqual({ mode: 'jwt' });
  });

  it('takes keystone with FENIX_KEYSTONE_URL, and says what is missing without it', () => {
    expect(authFromEnv({ FENIX_AUTH: 'keystone', FENIX_KEYSTONE_URL: 'http://127.0.0.1:5000/v3' })).toEqual({
      mode: 'keystone',
      keystoneUrl: 'http://127.0.0.1:5000/v3',
    });
    expect(() => authFromEnv({ FENIX_AUTH: 'keystone' })).toThrow(
      /FENIX_AUTH=keystone needs FENIX_KEYSTONE_URL \(Keystone's identity endpoint/,
    );
    expect(() => authFromEnv({ FENIX_AUTH: 'oidc' })).toThrow(/FENIX_AUTH must be jwt or keystone/);
  });

  it('defaults FENIX_KEYSTONE_URL to the auth_url of the OS_CLOUD entry (the cloud being maintained)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fenix-clouds-'));
    const file = join(dir, 'clouds.yaml');
    writeFileSync(
      file,
      'clouds:\n  ops:\n    auth:\n      auth_url: https://keystone.example.org:5000/v3\n      username: fenix\n      password: x\n',
    );
    expect(authFromEnv({ FENIX_AUTH: 'keystone', OS_CLOUD: 'ops', OS_CLIENT_CONFIG_FILE: file })).toEqual({
      mode: 'keystone',
      keystoneUrl: 'https://keystone.example.org:5000/v3',
    });
    expect(() => authFromEnv({ FENIX_AUTH: 'keystone', OS_CLOUD: 'nope', OS_CLIENT_CONFIG_FILE: file })).toThrow(
      /has no cloud "nope" \(it has: ops\)/,
    );
  });
});

describe('the local runtime with FENIX_AUTH=keystone', () => {
  let fx: TestRuntime;
  let sessionId: string;
  const as = (token: string) => ({ 'x-auth-token': token });
  const inventory = {
    hosts: [
      { name: 'c-1', type: 'compute', vcpus: 8 },
      { name: 'c-2', type: 'compute', vcpus: 8 },
    ],
    instances: [
      { id: 'a-1', name: 'a-1', project_id: PROJECT_A, host: 'c-1', vcpus: 1 },
      { id: 'b-1', name: 'b-1', project_id: PROJECT_B, host: 'c-1', vcpus: 1 },
    ],
  };

  beforeAll(async () => {
    fx = await startTestRuntime({
      inventory,
      auth: { mode: 'keystone', keystoneUrl: keystone.url },
      env: { FENIX_PROJECT_MAINTENANCE_REPLY: '30' },
    });
    const created = await fx.api(
      'POST',
      '/v1/maintenance',
      { state: 'MAINTENANCE', maintenance_at: fenixTimeIn(120), hosts: ['c-1'] },
      as(ADMIN),
    );
    expect(created.status).toBe(200);
    sessionId = created.body.session_id;
    await fx.waitForEvent((e) => e.detail.session_id === sessionId && e.detail.project_id === PROJECT_B);
  });
  afterAll(async () => fx?.stop());

  it('lets an admin token (role admin) list sessions', async () => {
    expect(await fx.api('GET', '/v1/maintenance', undefined, as(ADMIN))).toEqual({
      status: 200,
      body: { session_id: [sessionId] },
    });
  });

  it('lets a project token act for its Keystone project, and only for it', async () => {
    const own = await fx.api('GET', `/v1/maintenance/${sessionId}/${PROJECT_A}`, undefined, as(VNF_A));
    expect(own).toEqual({ status: 200, body: { instance_ids: ['a-1'] } });
    const other = await fx.api('GET', `/v1/maintenance/${sessionId}/${PROJECT_B}`, undefined, as(VNF_A));
    expect(other).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    const admin = await fx.api('GET', `/v1/maintenance/${sessionId}`, undefined, as(VNF_A));
    expect(admin).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    const unscoped = await fx.api('GET', `/v1/maintenance/${sessionId}/${PROJECT_A}`, undefined, as(UNSCOPED));
    expect(unscoped).toMatchObject({ status: 403 });
  });

  it('records the Keystone user id as who replied', async () => {
    const reply = await fx.api(
      'PUT',
      `/v1/maintenance/${sessionId}/${PROJECT_B}`,
      { state: 'ACK_MAINTENANCE' },
      as(VNF_B),
    );
    expect(reply.status).toBe(200);
    const detail = await fx.api('GET', `/v1/maintenance/${sessionId}/detail`, undefined, as(ADMIN));
    expect(JSON.stringify(detail.body)).toContain(`"replied_by":"${TOKEN_BODIES['vnf-b'].token.user.id}"`);
    expect(JSON.stringify(detail.body)).not.toContain(VNF_B);
  });

  it.each([
    ['no X-Auth-Token', {}, /no X-Auth-Token header/],
    ['a token Keystone does not know', as('gAAAAABgarbage'), /Keystone does not know this token/],
    ['a malformed token', as('not a token'), /malformed token/],
  ])('answers 401 to %s, with the Keystone challenge', async (_, headers, reason) => {
    const response = await fetch(`${fx.url}/v1/maintenance`, { headers });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(`Keystone uri="${keystone.url}"`);
    const body = (await response.json()) as any;
    expect(body).toMatchObject({ error: 'unauthorized' });
    expect(body.message).toMatch(/X-Auth-Token/);
    expect(body.message).toMatch(reason);
  });

  it('does not take the local JWTs', async () => {
    const jwt = await fx.token({ admin: true });
    const response = await fx.api('GET', '/v1/maintenance', undefined, { authorization: `Bearer ${jwt}` });
    expect(response).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
  });

  it('answers 503 naming Keystone when Keystone cannot say, and lets nothing through', async () => {
    const response = await fx.api('GET', '/v1/maintenance', undefined, as(BROKEN));
    expect(response).toMatchObject({ status: 503, body: { error: 'keystone_unavailable' } });
    expect(response.body.message).toMatch(/Keystone answered 500/);
  });

  it('scopes the simulator API to the token project too', async () => {
    const own = await fx.api('GET', '/sim/v1/instances', undefined, as(VNF_A));
    expect(own.status).toBe(200);
    expect(own.body.instances.map((i: { id: string }) => i.id)).toEqual(['a-1']);
    const other = await fx.api('GET', `/sim/v1/instances?project_id=${PROJECT_B}`, undefined, as(VNF_A));
    expect(other.status).toBe(403);
    expect((await fx.api('GET', '/sim/v1/hosts', undefined, as(ADMIN))).status).toBe(200);
  });
});
