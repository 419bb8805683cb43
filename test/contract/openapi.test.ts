import { readdirSync, readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { ValidateFunction } from 'ajv';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { repoPath } from '../../infra/paths.js';
import { bearerAuthenticator, createGateway } from '../../local/api-gateway.js';
import { LocalKeys } from '../../local/jwt.js';
import { generatedFiles } from '../../scripts/gen-schemas.js';
import { fenixTimeIn, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { openApiSchemas, pointer, problems } from './validators.js';

/**
 * The OpenAPI document against the running API: it is well-formed OpenAPI 3.1, the committed copy is
 * what the code generates, and every route answers every status it documents — and only those —
 * with a body that validates against the documented schema. 5xx comes from the real handlers wired
 * to dependencies that fail, behind the same local gateway.
 */

type Json = Record<string, any>;
type Answer = { status: number; body: any; headers: Record<string, string | string[] | undefined> };

const MAX_HANDLER_BODY = 256 * 1024;
const UNKNOWN_SESSION = '00000000-0000-4000-8000-000000000000';

let t: TestRuntime;
let doc: Json;
/** The validator for the schema at a pointer in `doc`. */
let schemaAt: (at: string) => ValidateFunction;
let brokenUrl: string;
let brokenServer: Server;
let keys: LocalKeys;
const observed: { op: string; status: number }[] = [];

/** Session fixtures made in beforeAll. */
const fx = { running: '', failed: '', failedToo: '', spare: '', downloading: '', vnf: '' };
/** Holds the download of `fx.downloading` until the file ends, so that session has not listed its instances yet. */
let heldDownload: Server;

const ops = () => {
  const found: { op: string; method: string; path: string; statuses: string[] }[] = [];
  for (const [path, item] of Object.entries(doc.paths as Json)) {
    for (const [method, operation] of Object.entries(item as Json))
      found.push({
        op: operation.operationId,
        method: method.toUpperCase(),
        path,
        statuses: Object.keys(operation.responses),
      });
  }
  return found;
};
const opOf = (id: string) => {
  const op = ops().find((o) => o.op === id);
  if (!op) throw new Error(`no operation ${id}`);
  return op;
};

/** A request with node:http (fetch refuses a body on GET, which the 413 cases need). */
const send = (
  base: string,
  method: string,
  path: string,
  options: { body?: string; headers?: Record<string, string> } = {},
): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const req = httpRequest(
      url,
      {
        method,
        headers: {
          ...(options.body !== undefined
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(options.body) }
            : {}),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            // keep text
          }
          resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });

type Who = 'admin' | 'none' | 'bare' | { project: string };
const auth = async (who: Who): Promise<Record<string, string>> => {
  if (who === 'none') return {};
  if (who === 'admin') return { authorization: `Bearer ${await t.token({ admin: true })}` };
  if (who === 'bare') return { authorization: `Bearer ${await keys.issue({})}` }; // valid, but neither admin nor naming a project
  return { authorization: `Bearer ${await t.token({ project: who.project })}` };
};

interface Call {
  path: string;
  who?: Who;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
  /** Send to the server whose handlers' dependencies all fail. */
  broken?: boolean;
}

/** Calls operation `op`, checks the status is `expected`, and validates the body against the document. */
const expectStatus = async (op: string, expected: number, call: Call): Promise<Answer> => {
  const { method, path: template } = opOf(op);
  const pattern = new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}/?(\\?.*)?$`);
  expect(call.path, `${call.path} is not a path of ${op}`).toMatch(pattern);
  const body = call.raw ?? (call.body !== undefined ? JSON.stringify(call.body) : undefined);
  const answer = await send(call.broken ? brokenUrl : t.url, method, call.path, {
    body,
    headers: { ...(await auth(call.who ?? 'admin')), ...call.headers },
  });
  observed.push({ op, status: answer.status });
  expect(answer.status, `${op} ${call.path}: ${JSON.stringify(answer.body)?.slice(0, 300)}`).toBe(expected);
  const errors = problems(responseSchema(op, answer.status), answer.body);
  expect(errors, `${op} ${answer.status} body ${JSON.stringify(answer.body)?.slice(0, 300)}`).toEqual([]);
  if (answer.status === 401) expect(answer.headers['www-authenticate']).toBe('Bearer');
  return answer;
};

const JSON_SCHEMA = pointer('content', 'application/json', 'schema');

const responseSchema = (op: string, status: number): ValidateFunction => {
  const { method, path } = opOf(op);
  const response = doc.paths[path][method.toLowerCase()].responses[String(status)];
  if (!response) throw new Error(`${op} does not document ${status}`);
  // A shared response (`#/components/responses/X`) is followed by hand: a JSON pointer stops at a $ref.
  const at = response.$ref
    ? response.$ref.slice(1)
    : pointer('paths', path, method.toLowerCase(), 'responses', `${status}`);
  return schemaAt(`${at}${JSON_SCHEMA}`);
};

const requestSchema = (op: string): ValidateFunction => {
  const { method, path } = opOf(op);
  return schemaAt(`${pointer('paths', path, method.toLowerCase(), 'requestBody')}${JSON_SCHEMA}`);
};

/** Pointers to every schema in an OpenAPI document: each component schema and each `schema` field. */
const schemaPointers = (node: unknown, at = ''): string[] =>
  typeof node !== 'object' || node === null
    ? []
    : Object.entries(node).flatMap(([key, value]) => {
        const here = `${at}${pointer(key)}`;
        return key === 'schema' || at === '/components/schemas' ? [here] : schemaPointers(value, here);
      });

/** Over the handler's 256 KiB cap, under the gateway's 1 MiB one: the handler answers the 413. */
const hugeBody = JSON.stringify({
  state: 'MAINTENANCE',
  maintenance_at: fenixTimeIn(60),
  metadata: { blob: 'x'.repeat(MAX_HANDLER_BODY + 10) },
});

const inventory = {
  hosts: [
    { name: 'c-1', type: 'compute', vcpus: 8 },
    { name: 'c-2', type: 'compute', vcpus: 8 },
    { name: 'c-3', type: 'compute', vcpus: 8 },
    { name: 'c-4', type: 'compute', vcpus: 8 },
    { name: 'c-5', type: 'compute', vcpus: 8 },
    { name: 'c-6', type: 'compute', vcpus: 8 },
    { name: 'c-7', type: 'compute', vcpus: 8 },
    { name: 'c-8', type: 'compute', vcpus: 8 },
  ],
  instances: [
    { name: 'p-0', project_id: 'p', host: 'c-1', vcpus: 1 },
    { name: 'r-0', project_id: 'r', host: 'c-1', vcpus: 1 },
    { name: 'q-0', project_id: 'q', host: 'c-2', vcpus: 1 },
    { name: 'q-1', project_id: 'q', host: 'c-6', vcpus: 1 },
    { name: 's-0', project_id: 's', host: 'c-7', vcpus: 1 },
    { name: 'v-0', project_id: 'v', host: 'c-8', vcpus: 1 },
  ],
};

const createSession = async (hosts: string[], extra: Record<string, unknown> = {}) => {
  const answer = await expectStatus('createSession', 200, {
    path: '/v1/maintenance',
    body: { state: 'MAINTENANCE', maintenance_at: fenixTimeIn(300), hosts, ...extra },
  });
  return answer.body.session_id as string;
};

/** The round a session waits on, once it is open. */
const waitForRound = async (id: string, state: string) => {
  for (let i = 0; i < 200; i++) {
    const detail = (await t.api('GET', `/v1/maintenance/${id}/detail`)).body;
    if (detail.round?.state === state && detail.round.status === 'OPEN' && detail.round.waiting_for.length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`session ${id} never opened a ${state} round`);
};

beforeAll(async () => {
  // Rounds stay open for the whole file: nothing here may time out under the test's feet.
  heldDownload = createServer((_request, response) => response.writeHead(200).write('started'));
  await new Promise<void>((resolve) => heldDownload.listen(0, '127.0.0.1', resolve));
  const heldPort = (heldDownload.address() as AddressInfo).port;
  t = await startTestRuntime({
    inventory,
    env: {
      FENIX_PROJECT_MAINTENANCE_REPLY: '240',
      FENIX_PROJECT_SCALE_IN_REPLY: '240',
      FENIX_DOWNLOAD_ALLOW: `127.0.0.1:${heldPort}`,
    },
  });
  keys = LocalKeys.load(t.runtime.dataDir);
  // The failing handlers below log their errors, as they should; this file expects them.
  vi.spyOn((await import('../../functions/shared/observability.js')).logger, 'error').mockImplementation(
    () => undefined,
  );
  doc = (await t.api('GET', '/v1/openapi.json')).body;
  schemaAt = openApiSchemas(doc);

  // The same handlers, wired to dependencies that all fail, behind the same gateway.
  const failing = new Proxy(
    {},
    {
      get: () => {
        throw new Error('dependency unavailable (test)');
      },
    },
  ) as never;
  const { apiRoutes } = await import('../../local/runtime.js');
  const brokenRoutes = await apiRoutes((module, path) =>
    path === '/v1/openapi.json'
      ? module.makeHandler((() => {
          throw new Error('document unavailable (test)');
        }) as never)
      : module.makeHandler(failing),
  );
  brokenServer = createServer(
    createGateway(
      brokenRoutes,
      bearerAuthenticator((token) => keys.verify(token)),
    ),
  );
  await new Promise<void>((resolve) => brokenServer.listen(0, '127.0.0.1', resolve));
  brokenUrl = `http://127.0.0.1:${(brokenServer.address() as AddressInfo).port}`;

  // A running session waiting on project p (and only informing r), two failed ones (q NACKed),
  // a spare to delete, and one still fetching its download (so it has not listed its instances).
  fx.running = await createSession(['c-1'], { policy: { projects: { r: { interacting: false } } } });
  fx.failed = await createSession(['c-2']);
  fx.failedToo = await createSession(['c-6']);
  fx.spare = await createSession(['c-3']);
  fx.downloading = await createSession(['c-7'], { download: [`http://127.0.0.1:${heldPort}/held.bin`] });
  await waitForRound(fx.running, 'MAINTENANCE');
  // A vnf session continued at PLANNED_MAINTENANCE: its one instance is notified and may be answered.
  fx.vnf = await createSession(['c-8'], { workflow: 'vnf' });
  await waitForRound(fx.vnf, 'MAINTENANCE');
  expect((await t.api('PUT', `/v1/maintenance/${fx.vnf}/v`, { state: 'NACK_MAINTENANCE' })).status).toBe(200);
  await t.waitForEvent((e) => e.detail.session_id === fx.vnf && e.detail.state === 'MAINTENANCE_FAILED');
  expect((await t.api('PUT', `/v1/maintenance/${fx.vnf}`, { state: 'PLANNED_MAINTENANCE' })).status).toBe(200);
  await t.waitForEvent(
    (e) =>
      e.detail.session_id === fx.vnf &&
      e.detail.state === 'PLANNED_MAINTENANCE' &&
      Array.isArray(e.detail.instance_ids),
  );
  for (const failed of [fx.failed, fx.failedToo]) {
    await waitForRound(failed, 'MAINTENANCE');
    expect((await t.api('PUT', `/v1/maintenance/${failed}/q`, { state: 'NACK_MAINTENANCE' })).status).toBe(200);
    await t.waitForEvent((e) => e.detail.session_id === failed && e.detail.state === 'MAINTENANCE_FAILED');
  }
});

afterAll(async () => {
  heldDownload?.closeAllConnections();
  await new Promise((resolve) => heldDownload?.close(resolve));
  brokenServer?.closeAllConnections();
  await new Promise((resolve) => brokenServer?.close(resolve));
  await t?.stop();
});

describe('the OpenAPI document', () => {
  it('is well-formed OpenAPI 3.1: info, paths, responses on every operation, every $ref resolved, every schema 2020-12', async () => {
    expect(await new Validator().validate(doc)).toEqual({ valid: true });
    // Every schema compiles in strict 2020-12, its $refs resolved.
    for (const at of schemaPointers(doc)) expect(() => schemaAt(at), at).not.toThrow();
    // What the OpenAPI schema cannot say: operationIds are unique, and the path templates and path parameters agree.
    expect(new Set(ops().map((o) => o.op)).size).toBe(ops().length);
    for (const { method, path, statuses } of ops()) {
      expect(statuses, `${method} ${path} responses`).not.toEqual([]);
      const parameters: Json[] = doc.paths[path][method.toLowerCase()].parameters ?? [];
      expect(
        parameters.filter((p) => p.in === 'path').map((p) => p.name),
        `${method} ${path} path parameters`,
      ).toEqual([...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]));
    }
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    });
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
  });

  it('is the committed docs/openapi.json (regenerate with npm run openapi)', () => {
    const committed = JSON.parse(readFileSync(repoPath('docs/openapi.json'), 'utf8'));
    expect(doc).toEqual(committed);
    expect(readFileSync(repoPath('docs/openapi.json'), 'utf8')).toBe(generatedFiles()['docs/openapi.json']);
  });

  it('documents one operation per handler, and every handler route', () => {
    // The Keystone authorizer sits in front of the routes; it is not one.
    const handlers = readdirSync(repoPath('functions/api')).filter(
      (file) => file.endsWith('.ts') && file !== 'keystone-authorizer.ts',
    );
    // POST /v1/maintenance/{session_id} is PUT's handler under the name the API document gives it.
    expect(ops()).toHaveLength(handlers.length + 1);
    const keys = ops()
      .map((o) => `${o.method} ${o.path}`)
      .sort();
    expect(keys).toEqual(
      [
        'POST /v1/maintenance',
        'GET /v1/maintenance',
        'GET /v1/maintenance/{session_id}',
        'PUT /v1/maintenance/{session_id}',
        'POST /v1/maintenance/{session_id}',
        'DELETE /v1/maintenance/{session_id}',
        'GET /v1/maintenance/{session_id}/detail',
        'GET /v1/maintenance/{session_id}/{project_id}',
        'PUT /v1/maintenance/{session_id}/{project_id}',
        'PUT /v1/maintenance/{session_id}/{project_id}/{instance_id}',
        'PUT /v1/instance/{instance_id}',
        'GET /v1/instance/{instance_id}',
        'DELETE /v1/instance/{instance_id}',
        'PUT /v1/instance_group/{group_id}',
        'GET /v1/instance_group/{group_id}',
        'DELETE /v1/instance_group/{group_id}',
        'GET /v1/openapi.json',
      ].sort(),
    );
  });

  it("documents request bodies with the handlers' own schemas (valid samples pass, invalid fail)", () => {
    const create = requestSchema('createSession');
    expect(problems(create, { state: 'MAINTENANCE', maintenance_at: '2030-01-01 00:00:00' })).toEqual([]);
    expect(
      problems(create, {
        state: 'MAINTENANCE',
        maintenance_at: '2030-01-01 00:00:00',
        hosts: ['c-1'],
        metadata: { a: [1, { b: null }] },
        actions: [{ plugin: 'dummy', type: 'compute' }],
      }),
    ).toEqual([]);
    expect(problems(create, { state: 'MAINTENANCE', maintenance_at: '2030-01-01 00:00:00', surprise: 1 })).not.toEqual(
      [],
    );
    expect(problems(create, { state: 'SCALE_IN', maintenance_at: '2030-01-01 00:00:00' })).not.toEqual([]);
    const reply = requestSchema('putProjectReply');
    expect(problems(reply, { state: 'ACK_PLANNED_MAINTENANCE', instance_actions: { 'vm-1': 'MIGRATE' } })).toEqual([]);
    expect(problems(reply, { state: 'ACK_START_MAINTENANCE' })).not.toEqual([]);
    expect(problems(reply, { state: 'ACK_MAINTENANCE', instance_actions: { 'vm-1': 'TELEPORT' } })).not.toEqual([]);
    const update = requestSchema('updateSession');
    expect(problems(update, { state: 'PLANNED_MAINTENANCE' })).toEqual([]);
    expect(problems(update, { state: 'MAINTENANCE_DONE' })).not.toEqual([]);
    const instance = requestSchema('putInstanceConstraint');
    expect(problems(instance, {})).toEqual([]);
    expect(problems(instance, { migration_type: null, lead_time: 40, group_id: 'g-1' })).toEqual([]);
    expect(problems(instance, { migration_type: 'TELEPORT' })).not.toEqual([]);
    expect(problems(instance, { lead_time: -1 })).not.toEqual([]);
    const group = requestSchema('putInstanceGroupConstraint');
    expect(problems(group, { anti_affinity_group: true, max_instances_per_host: 1 })).toEqual([]);
    expect(problems(group, { max_impacted_members: 0 })).not.toEqual([]);
    expect(problems(group, { members: [] })).not.toEqual([]);
  });
});

describe('every route answers every documented status, with the documented body', () => {
  const session = (id: string) => `/v1/maintenance/${id}`;

  it('createSession', async () => {
    const body = { state: 'MAINTENANCE', maintenance_at: fenixTimeIn(300), hosts: ['c-4'] };
    expect(problems(requestSchema('createSession'), body)).toEqual([]);
    const created = await expectStatus('createSession', 200, {
      path: '/v1/maintenance',
      body,
      headers: { 'idempotency-key': 'contract-1' },
    });
    const bad = { state: 'MAINTENANCE', maintenance_at: fenixTimeIn(300), colour: 'red' };
    expect(problems(requestSchema('createSession'), bad)).not.toEqual([]);
    await expectStatus('createSession', 400, { path: '/v1/maintenance', body: bad });
    await expectStatus('createSession', 401, { path: '/v1/maintenance', body, who: 'none' });
    await expectStatus('createSession', 403, { path: '/v1/maintenance', body, who: { project: 'p' } });
    const conflict = await expectStatus('createSession', 409, {
      path: '/v1/maintenance',
      body: { ...body, hosts: ['c-1'] },
    });
    expect(conflict.body.error).toBe('host_in_session');
    const reused = await expectStatus('createSession', 409, {
      path: '/v1/maintenance',
      body: { ...body, hosts: ['c-5'] },
      headers: { 'idempotency-key': 'contract-1' },
    });
    expect(reused.body.error).toBe('idempotency_key_reused');
    await expectStatus('createSession', 413, { path: '/v1/maintenance', raw: hugeBody });
    await expectStatus('createSession', 500, { path: '/v1/maintenance', body, broken: true });
    await t.api('DELETE', session(created.body.session_id));
  });

  it('listSessions', async () => {
    const listed = await expectStatus('listSessions', 200, { path: '/v1/maintenance' });
    expect(listed.body.session_id).toEqual(expect.arrayContaining([fx.running, fx.failed]));
    await expectStatus('listSessions', 200, { path: '/v1/maintenance/' }); // the trailing slash is served too
    await expectStatus('listSessions', 400, { path: '/v1/maintenance?page=2' });
    await expectStatus('listSessions', 401, { path: '/v1/maintenance', who: 'none' });
    await expectStatus('listSessions', 403, { path: '/v1/maintenance', who: { project: 'p' } });
    await expectStatus('listSessions', 413, { path: '/v1/maintenance', raw: hugeBody });
    await expectStatus('listSessions', 500, { path: '/v1/maintenance', broken: true });
  });

  it('getSession', async () => {
    const got = await expectStatus('getSession', 200, { path: session(fx.running) });
    expect(got.body).toEqual({ session_id: fx.running, state: 'MAINTENANCE' });
    await expectStatus('getSession', 400, { path: session('not-a-uuid') });
    await expectStatus('getSession', 401, { path: session(fx.running), who: 'none' });
    await expectStatus('getSession', 403, { path: session(fx.running), who: { project: 'p' } });
    await expectStatus('getSession', 404, { path: session(UNKNOWN_SESSION) });
    await expectStatus('getSession', 413, { path: session(fx.running), raw: hugeBody });
    await expectStatus('getSession', 500, { path: session(fx.running), broken: true });
  });

  it('getSessionDetail', async () => {
    const detail = await expectStatus('getSessionDetail', 200, { path: `${session(fx.running)}/detail` });
    expect(detail.body.round).toMatchObject({ state: 'MAINTENANCE', status: 'OPEN', waiting_for: ['p'] });
    const failed = await expectStatus('getSessionDetail', 200, {
      path: `${session(fx.failed)}/detail?history_limit=2&instances_limit=1`,
    });
    expect(failed.body.session.failure).toMatch(/project q replied NACK_MAINTENANCE/);
    expect(failed.body.session.failure_details).toMatchObject({ nacked_by: ['q'] });
    expect(failed.body.history).toHaveLength(2);
    expect(failed.body.history_next).toEqual(expect.any(String));
    await expectStatus('getSessionDetail', 200, {
      path: `${session(fx.failed)}/detail?history_next=${failed.body.history_next}`,
    });
    await expectStatus('getSessionDetail', 400, { path: `${session(fx.running)}/detail?history_limit=0` });
    await expectStatus('getSessionDetail', 400, { path: `${session('nope')}/detail` });
    await expectStatus('getSessionDetail', 401, { path: `${session(fx.running)}/detail`, who: 'none' });
    await expectStatus('getSessionDetail', 403, { path: `${session(fx.running)}/detail`, who: { project: 'p' } });
    await expectStatus('getSessionDetail', 404, { path: `${session(UNKNOWN_SESSION)}/detail` });
    await expectStatus('getSessionDetail', 413, { path: `${session(fx.running)}/detail`, raw: hugeBody });
    await expectStatus('getSessionDetail', 500, { path: `${session(fx.running)}/detail`, broken: true });
  });

  it('getProjectInstances', async () => {
    const path = `${session(fx.running)}/p`;
    const instances = await expectStatus('getProjectInstances', 200, { path, who: { project: 'p' } });
    expect(instances.body.instance_ids).toHaveLength(1);
    await expectStatus('getProjectInstances', 200, { path }); // admin too
    await expectStatus('getProjectInstances', 400, { path: `${session(fx.running)}/no%20spaces`, who: 'admin' });
    await expectStatus('getProjectInstances', 401, { path, who: 'none' });
    await expectStatus('getProjectInstances', 403, { path, who: { project: 'q' } });
    await expectStatus('getProjectInstances', 404, { path: `${session(fx.running)}/q` });
    await expectStatus('getProjectInstances', 404, { path: `${session(UNKNOWN_SESSION)}/p`, who: { project: 'p' } });
    // Before the session has listed its instances: not a 404 for a project that is there, but "retry".
    const early = await expectStatus('getProjectInstances', 409, {
      path: `${session(fx.downloading)}/s`,
      who: { project: 's' },
    });
    expect(early.body.error).toBe('not_ready');
    expect(early.headers['retry-after']).toBe('1');
    await expectStatus('getProjectInstances', 413, { path, raw: hugeBody });
    await expectStatus('getProjectInstances', 500, { path, broken: true });
  });

  it('putProjectReply', async () => {
    const path = `${session(fx.running)}/p`;
    const bad = { state: 'ACK_START_MAINTENANCE' };
    expect(problems(requestSchema('putProjectReply'), bad)).not.toEqual([]);
    await expectStatus('putProjectReply', 400, { path, body: bad, who: { project: 'p' } });
    await expectStatus('putProjectReply', 401, { path, body: { state: 'ACK_MAINTENANCE' }, who: 'none' });
    await expectStatus('putProjectReply', 403, { path, body: { state: 'ACK_MAINTENANCE' }, who: { project: 'q' } });
    await expectStatus('putProjectReply', 404, {
      path: `${session(fx.running)}/q`,
      body: { state: 'ACK_MAINTENANCE' },
    });
    const wrong = await expectStatus('putProjectReply', 409, {
      path,
      body: { state: 'ACK_SCALE_IN' },
      who: { project: 'p' },
    });
    expect(wrong.body.error).toBe('wrong_state');
    await expectStatus('putProjectReply', 413, { path, raw: hugeBody, who: { project: 'p' } });
    await expectStatus('putProjectReply', 500, { path, body: { state: 'ACK_MAINTENANCE' }, broken: true });
    const ack = { state: 'ACK_MAINTENANCE' };
    expect(problems(requestSchema('putProjectReply'), ack)).toEqual([]);
    await expectStatus('putProjectReply', 200, { path, body: ack, who: { project: 'p' } });
    await expectStatus('putProjectReply', 200, { path, body: ack, who: { project: 'p' } }); // a repeat changes nothing
    const changed = await expectStatus('putProjectReply', 409, {
      path,
      body: { state: 'NACK_MAINTENANCE' },
      who: { project: 'p' },
    });
    expect(changed.body.error).toBe('already_replied');
    const waiting = await expectStatus('putProjectReply', 409, {
      path: `${session(fx.failed)}/q`,
      body: { state: 'ACK_MAINTENANCE' },
    });
    expect(['not_waiting', 'round_closed', 'already_replied']).toContain(waiting.body.error);
    const informed = await expectStatus('putProjectReply', 409, {
      path: `${session(fx.running)}/r`,
      body: { state: 'ACK_MAINTENANCE' },
      who: { project: 'r' },
    });
    expect(informed.body).toMatchObject({ error: 'not_interacting', message: expect.stringContaining('LIVE_MIGRATE') });
    const early = await expectStatus('putProjectReply', 409, {
      path: `${session(fx.downloading)}/s`,
      body: { state: 'ACK_MAINTENANCE' },
      who: { project: 's' },
    });
    expect(early.body.error).toBe('not_ready');
  });

  it('putInstanceReply', async () => {
    const instance = (await t.runtime.cloud.listInstances('v'))[0]?.id as string;
    const path = `${session(fx.vnf)}/v/${instance}`;
    const ack = { instance_action: 'MIGRATE', state: 'ACK_PLANNED_MAINTENANCE' };
    const bad = { instance_action: 'TELEPORT', state: 'ACK_PLANNED_MAINTENANCE' };
    expect(problems(requestSchema('putInstanceReply'), bad)).not.toEqual([]);
    await expectStatus('putInstanceReply', 400, { path, body: bad, who: { project: 'v' } });
    await expectStatus('putInstanceReply', 401, { path, body: ack, who: 'none' });
    await expectStatus('putInstanceReply', 403, { path, body: ack, who: { project: 'q' } });
    await expectStatus('putInstanceReply', 404, { path: `${session(fx.vnf)}/v/no-such-instance`, body: ack });
    const wrong = await expectStatus('putInstanceReply', 409, {
      path,
      body: { ...ack, state: 'ACK_PREPARE_MAINTENANCE' },
      who: { project: 'v' },
    });
    expect(wrong.body.error).toBe('wrong_state');
    const notVnf = await expectStatus('putInstanceReply', 409, {
      path: `${session(fx.running)}/p/${instance}`,
      body: ack,
      who: { project: 'p' },
    });
    expect(notVnf.body.error).toBe('not_vnf');
    await expectStatus('putInstanceReply', 413, { path, raw: hugeBody, who: { project: 'v' } });
    await expectStatus('putInstanceReply', 500, { path, body: ack, broken: true });
    expect(problems(requestSchema('putInstanceReply'), ack)).toEqual([]);
    await expectStatus('putInstanceReply', 200, { path, body: ack, who: { project: 'v' } });
    await expectStatus('putInstanceReply', 200, { path, body: ack, who: { project: 'v' } }); // a repeat changes nothing
    const changed = await expectStatus('putInstanceReply', 409, {
      path,
      body: { ...ack, instance_action: 'LIVE_MIGRATE' },
      who: { project: 'v' },
    });
    expect(changed.body.error).toBe('already_replied');
  });

  // PUT and POST /v1/maintenance/{session_id} are one operation under two methods: each continues its own failed session.
  it.each([
    ['updateSession', 'failed'],
    ['updateSessionPost', 'failedToo'],
  ] as const)('%s', async (op, failed) => {
    const path = session(fx[failed]);
    const bad = { state: 'MAINTENANCE_DONE' };
    expect(problems(requestSchema(op), bad)).not.toEqual([]);
    await expectStatus(op, 400, { path, body: bad });
    await expectStatus(op, 401, { path, body: { state: 'MAINTENANCE' }, who: 'none' });
    await expectStatus(op, 403, { path, body: { state: 'MAINTENANCE' }, who: { project: 'q' } });
    await expectStatus(op, 404, { path: session(UNKNOWN_SESSION), body: { state: 'MAINTENANCE' } });
    await expectStatus(op, 413, { path, raw: hugeBody });
    await expectStatus(op, 500, { path, body: { state: 'MAINTENANCE' }, broken: true });
    const running = await expectStatus(op, 409, { path: session(fx.running), body: { state: 'MAINTENANCE' } });
    expect(running.body.error).toBe('session_running');
    const body = { state: 'MAINTENANCE', maintenance_at: fenixTimeIn(300) };
    expect(problems(requestSchema(op), body)).toEqual([]);
    await expectStatus(op, 200, { path, body });
    await expectStatus('getSession', 200, { path }).then((answer) => expect(answer.body.state).toBe('MAINTENANCE'));
  });

  it('deleteSession', async () => {
    const path = session(fx.spare);
    await expectStatus('deleteSession', 400, { path: session('x') });
    await expectStatus('deleteSession', 401, { path, who: 'none' });
    await expectStatus('deleteSession', 403, { path, who: { project: 'p' } });
    await expectStatus('deleteSession', 413, { path, raw: hugeBody });
    await expectStatus('deleteSession', 500, { path, broken: true });
    await expectStatus('deleteSession', 200, { path });
    await expectStatus('deleteSession', 404, { path });
  });

  // Constraints: project p owns its instance's constraint and the group g-contract.
  const instancePath = async () => `/v1/instance/${(await t.runtime.cloud.listInstances('p'))[0]?.id}`;
  const GROUP_PATH = '/v1/instance_group/g-contract';

  it('putInstanceConstraint', async () => {
    const path = await instancePath();
    const body = { migration_type: 'MIGRATE', lead_time: 40, group_id: 'g-contract' };
    expect(problems(requestSchema('putInstanceConstraint'), body)).toEqual([]);
    await expectStatus('putInstanceConstraint', 200, { path, body, who: { project: 'p' } });
    await expectStatus('putInstanceConstraint', 400, { path, body: { lead_time: -1 }, who: { project: 'p' } });
    await expectStatus('putInstanceConstraint', 401, { path, body, who: 'none' });
    await expectStatus('putInstanceConstraint', 403, { path, body, who: 'bare' });
    await expectStatus('putInstanceConstraint', 404, { path, body, who: { project: 'q' } }); // not q's instance
    await expectStatus('putInstanceConstraint', 413, { path, raw: hugeBody, who: { project: 'p' } });
    await expectStatus('putInstanceConstraint', 500, { path, body, who: { project: 'p' }, broken: true });
  });

  it('getInstanceConstraint', async () => {
    const path = await instancePath();
    const got = await expectStatus('getInstanceConstraint', 200, { path, who: { project: 'p' } });
    expect(got.body).toMatchObject({ project_id: 'p', migration_type: 'MIGRATE', lead_time: 40 });
    await expectStatus('getInstanceConstraint', 200, { path }); // admin too
    await expectStatus('getInstanceConstraint', 400, { path: '/v1/instance/no%20spaces' });
    await expectStatus('getInstanceConstraint', 401, { path, who: 'none' });
    await expectStatus('getInstanceConstraint', 403, { path, who: 'bare' });
    await expectStatus('getInstanceConstraint', 404, { path, who: { project: 'q' } });
    await expectStatus('getInstanceConstraint', 413, { path, raw: hugeBody });
    await expectStatus('getInstanceConstraint', 500, { path, broken: true });
  });

  it('deleteInstanceConstraint', async () => {
    const path = await instancePath();
    await expectStatus('deleteInstanceConstraint', 400, { path: '/v1/instance/a%20b' });
    await expectStatus('deleteInstanceConstraint', 401, { path, who: 'none' });
    await expectStatus('deleteInstanceConstraint', 403, { path, who: 'bare' });
    await expectStatus('deleteInstanceConstraint', 404, { path, who: { project: 'q' } });
    await expectStatus('deleteInstanceConstraint', 413, { path, raw: hugeBody });
    await expectStatus('deleteInstanceConstraint', 500, { path, broken: true });
    await expectStatus('deleteInstanceConstraint', 200, { path, who: { project: 'p' } });
    await expectStatus('deleteInstanceConstraint', 404, { path, who: { project: 'p' } });
  });

  it('putInstanceGroupConstraint', async () => {
    const path = GROUP_PATH;
    const body = { anti_affinity_group: true, max_instances_per_host: 1, max_impacted_members: 1, recovery_time: 4 };
    expect(problems(requestSchema('putInstanceGroupConstraint'), body)).toEqual([]);
    await expectStatus('putInstanceGroupConstraint', 200, { path, body, who: { project: 'p' } });
    await expectStatus('putInstanceGroupConstraint', 400, {
      path,
      body: { max_impacted_members: 0 },
      who: { project: 'p' },
    });
    await expectStatus('putInstanceGroupConstraint', 401, { path, body, who: 'none' });
    await expectStatus('putInstanceGroupConstraint', 403, { path, body, who: 'bare' });
    await expectStatus('putInstanceGroupConstraint', 404, { path, body, who: { project: 'q' } }); // p's group
    const moved = await expectStatus('putInstanceGroupConstraint', 409, { path, body: { ...body, project_id: 'q' } });
    expect(moved.body.error).toBe('owner_mismatch');
    await expectStatus('putInstanceGroupConstraint', 413, { path, raw: hugeBody, who: { project: 'p' } });
    await expectStatus('putInstanceGroupConstraint', 500, { path, body, who: { project: 'p' }, broken: true });
  });

  it('getInstanceGroupConstraint', async () => {
    const path = GROUP_PATH;
    const got = await expectStatus('getInstanceGroupConstraint', 200, { path, who: { project: 'p' } });
    expect(got.body).toMatchObject({ project_id: 'p', anti_affinity_group: true, recovery_time: 4 });
    await expectStatus('getInstanceGroupConstraint', 200, { path }); // admin too
    await expectStatus('getInstanceGroupConstraint', 400, { path: '/v1/instance_group/a%00b' });
    await expectStatus('getInstanceGroupConstraint', 401, { path, who: 'none' });
    await expectStatus('getInstanceGroupConstraint', 403, { path, who: 'bare' });
    await expectStatus('getInstanceGroupConstraint', 404, { path, who: { project: 'q' } });
    await expectStatus('getInstanceGroupConstraint', 413, { path, raw: hugeBody });
    await expectStatus('getInstanceGroupConstraint', 500, { path, broken: true });
  });

  it('deleteInstanceGroupConstraint', async () => {
    const path = GROUP_PATH;
    await expectStatus('deleteInstanceGroupConstraint', 400, { path: '/v1/instance_group/%20' });
    await expectStatus('deleteInstanceGroupConstraint', 401, { path, who: 'none' });
    await expectStatus('deleteInstanceGroupConstraint', 403, { path, who: 'bare' });
    await expectStatus('deleteInstanceGroupConstraint', 404, { path, who: { project: 'q' } });
    await expectStatus('deleteInstanceGroupConstraint', 413, { path, raw: hugeBody });
    await expectStatus('deleteInstanceGroupConstraint', 500, { path, broken: true });
    await expectStatus('deleteInstanceGroupConstraint', 200, { path, who: { project: 'p' } });
    await expectStatus('deleteInstanceGroupConstraint', 404, { path });
  });

  it('getOpenApi', async () => {
    await expectStatus('getOpenApi', 200, { path: '/v1/openapi.json' });
    await expectStatus('getOpenApi', 200, { path: '/v1/openapi.json', who: { project: 'p' } }); // any project token may read it
    await expectStatus('getOpenApi', 400, { path: '/v1/openapi.json?format=yaml' });
    await expectStatus('getOpenApi', 401, { path: '/v1/openapi.json', who: 'none' });
    await expectStatus('getOpenApi', 403, { path: '/v1/openapi.json', who: 'bare' });
    await expectStatus('getOpenApi', 413, { path: '/v1/openapi.json', raw: hugeBody });
    await expectStatus('getOpenApi', 500, { path: '/v1/openapi.json', broken: true });
  });

  it('produced every documented status of every operation, and nothing undocumented', () => {
    const documented = ops()
      .flatMap((o) => o.statuses.map((status) => `${o.op} ${status}`))
      .sort();
    const seen = [...new Set(observed.map((o) => `${o.op} ${o.status}`))].sort();
    expect(
      seen.filter((key) => !documented.includes(key)),
      'statuses the document does not list',
    ).toEqual([]);
    expect(
      documented.filter((key) => !seen.includes(key)),
      'documented statuses no run produced',
    ).toEqual([]);
  });
});

describe('docs/events', () => {
  it('are the generated files (regenerate with npm run openapi)', () => {
    for (const [path, content] of Object.entries(generatedFiles())) {
      if (!path.startsWith('docs/events/')) continue;
      expect(readFileSync(repoPath(path), 'utf8'), path).toBe(content);
    }
    expect(readdirSync(repoPath('docs/events')).sort()).toEqual([
      'maintenance.host.json',
      'maintenance.scheduled.json',
      'maintenance.session.json',
    ]);
  });
});
