import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  Deduper,
  FenixApiError,
  FenixClient,
  InvalidEventError,
  parseMaintenanceEvent,
} from '../../examples/vnfm/client.js';
import { startVnfm, type Vnfm } from '../../examples/vnfm/vnfm.js';
import { fenixTimeIn, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

const SESSION = '6f1c2a52-6d1e-4b8e-9d0e-3c1f0b7a9e11';
const API = 'http://127.0.0.1:12347';

const envelope = (detailType: string, detail: Record<string, unknown>) => ({
  version: '0',
  id: 'b1e9c1f0-0000-4000-8000-000000000000',
  'detail-type': detailType,
  source: 'fenix',
  account: '000000000000',
  time: '2026-01-01T00:00:00Z',
  region: 'us-east-1',
  resources: [],
  detail,
});

const scheduled = (overrides: Record<string, unknown> = {}) =>
  envelope('maintenance.scheduled', {
    service: 'fenix',
    session_id: SESSION,
    project_id: 'vnf-a',
    state: 'PREPARE_MAINTENANCE',
    instance_ids: `${API}/v1/maintenance/${SESSION}/vnf-a`,
    reply_url: `${API}/v1/maintenance/${SESSION}/vnf-a`,
    allowed_actions: ['MIGRATE', 'LIVE_MIGRATE', 'OWN_ACTION'],
    actions_at: '2026-01-01 00:00:20',
    reply_at: '2026-01-01 00:00:20',
    metadata: { openstack_version: 'Train' },
    event_seq: 7,
    ...overrides,
  });

const errorOf = (fn: () => unknown): InvalidEventError => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidEventError);
    return error as InvalidEventError;
  }
  throw new Error('expected parseMaintenanceEvent to throw');
};

describe('parseMaintenanceEvent', () => {
  it('types a maintenance.scheduled envelope, from an object or its JSON text', () => {
    const body = scheduled();
    const event = parseMaintenanceEvent(body);
    expect(event['detail-type']).toBe('maintenance.scheduled');
    if (event['detail-type'] !== 'maintenance.scheduled') throw new Error('unreachable');
    expect(event.detail.state).toBe('PREPARE_MAINTENANCE');
    expect(event.detail.instance_ids).toBe(`${API}/v1/maintenance/${SESSION}/vnf-a`);
    expect(event.detail.metadata).toEqual({ openstack_version: 'Train' });
    expect(parseMaintenanceEvent(JSON.stringify(body))).toEqual(event);
  });

  it('accepts INSTANCE_ACTION_DONE with a one-id list and null times, and drops unknown fields', () => {
    const event = parseMaintenanceEvent({
      ...scheduled({
        state: 'INSTANCE_ACTION_DONE',
        instance_ids: ['i-1'],
        actions_at: null,
        reply_at: null,
        allowed_actions: [],
        metadata: {},
        extra: 1,
      }),
      another: true,
    });
    if (event['detail-type'] !== 'maintenance.scheduled') throw new Error('wrong type');
    expect(event.detail.instance_ids).toEqual(['i-1']);
    expect(event.detail.reply_at).toBeNull();
    expect(event.detail).not.toHaveProperty('extra');
    expect(event).not.toHaveProperty('another');
  });

  it('types maintenance.host and maintenance.session envelopes', () => {
    const host = parseMaintenanceEvent(
      envelope('maintenance.host', {
        service: 'fenix',
        session_id: SESSION,
        host: 'compute-1',
        state: 'IN_MAINTENANCE',
        event_seq: 9,
      }),
    );
    expect(host['detail-type'] === 'maintenance.host' && host.detail.host).toBe('compute-1');
    const session = parseMaintenanceEvent(
      envelope('maintenance.session', {
        service: 'fenix',
        session_id: SESSION,
        state: 'SCALE_IN',
        previous_state: 'MAINTENANCE',
        percent_done: 0,
        event_seq: 4,
      }),
    );
    expect(session['detail-type'] === 'maintenance.session' && session.detail.previous_state).toBe('MAINTENANCE');
    const first = parseMaintenanceEvent(
      envelope('maintenance.session', {
        service: 'fenix',
        session_id: SESSION,
        state: 'MAINTENANCE',
        previous_state: null,
        percent_done: 0,
        event_seq: 1,
      }),
    );
    expect(first['detail-type'] === 'maintenance.session' && first.detail.previous_state).toBeNull();
  });

  it('throws a clear error naming what is wrong', () => {
    expect(errorOf(() => parseMaintenanceEvent(null)).message).toMatch(/expected a JSON object/);
    expect(errorOf(() => parseMaintenanceEvent([])).message).toMatch(/got an array/);
    expect(errorOf(() => parseMaintenanceEvent('{not json')).message).toMatch(/not JSON/);
    expect(errorOf(() => parseMaintenanceEvent(envelope('maintenance.planned', {}))).message).toMatch(
      /detail-type: expected one of maintenance\.scheduled, maintenance\.host, maintenance\.session, got "maintenance\.planned"/,
    );
    const { detail } = scheduled();
    const { reply_url: _, ...noReplyUrl } = detail;
    expect(errorOf(() => parseMaintenanceEvent({ ...scheduled(), detail: noReplyUrl })).issues).toEqual([
      expect.stringMatching(/^detail\.reply_url: /),
    ]);
    expect(errorOf(() => parseMaintenanceEvent(scheduled({ state: 'START_MAINTENANCE' }))).message).toMatch(
      /detail\.state/,
    );
    expect(errorOf(() => parseMaintenanceEvent(scheduled({ event_seq: -1 }))).message).toMatch(/detail\.event_seq/);
    expect(errorOf(() => parseMaintenanceEvent({ ...scheduled(), source: 'aws.ec2' })).message).toMatch(
      /^not a Fenix maintenance event: source: /,
    );
    expect(
      errorOf(() =>
        parseMaintenanceEvent(
          envelope('maintenance.host', {
            service: 'fenix',
            session_id: SESSION,
            host: 'h',
            state: 'DOWN',
            event_seq: 1,
          }),
        ),
      ).message,
    ).toMatch(/detail\.state/);
  });
});

describe('Deduper', () => {
  const at = (session: string, seq: number) => ({ detail: { session_id: session, event_seq: seq } });

  it('answers true once per (session_id, event_seq)', () => {
    const deduper = new Deduper();
    expect(deduper.firstTime(at('s1', 1))).toBe(true);
    expect(deduper.firstTime(at('s1', 1))).toBe(false);
    expect(deduper.firstTime(at('s1', 2))).toBe(true);
    expect(deduper.firstTime(at('s2', 1))).toBe(true);
    expect(deduper.has('s1', 2)).toBe(true);
    expect(deduper.has('s2', 2)).toBe(false);
    expect(deduper.size).toBe(3);
  });

  it('forgets a whole session', () => {
    const deduper = new Deduper();
    deduper.firstTime(at('s1', 1));
    deduper.firstTime(at('s2', 1));
    deduper.forget('s1');
    expect(deduper.firstTime(at('s1', 1))).toBe(true);
    expect(deduper.firstTime(at('s2', 1))).toBe(false);
  });
});

describe('FenixClient', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((done) => (server ? server.close(done) : done(undefined)));
    server = undefined;
  });

  /** A fake API answering each request with the next scripted [status, body]. */
  const fake = async (script: [number, unknown][]) => {
    const seen: { method: string; url: string; headers: Record<string, unknown>; body: string }[] = [];
    server = createHttpServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body });
        const [status, payload] = script[Math.min(seen.length - 1, script.length - 1)] as [number, unknown];
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(payload));
      });
    });
    await new Promise((done) => server?.listen(0, '127.0.0.1', () => done(undefined)));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const url = `${base}/v1/maintenance/${SESSION}/vnf-a`;
    const event = parseMaintenanceEvent(scheduled({ instance_ids: url, reply_url: url }));
    if (event['detail-type'] !== 'maintenance.scheduled') throw new Error('wrong type');
    return { base, event, seen };
  };

  it('VNFM webhook: answers at once, replies once per (session_id, event_seq), ignores other projects, refuses non-events', async () => {
    const { base, event, seen } = await fake([[200, {}]]);
    const log: string[] = [];
    // No constraints pushed at start: the fake API sees the reply only.
    const vnfm = await startVnfm({
      fenixUrl: base,
      projectId: 'vnf-a',
      token: 'tok',
      constraints: false,
      log: (line) => log.push(line),
    });
    try {
      const post = async (body: unknown) => {
        const response = await fetch(vnfm.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };
      const maintenance = { ...event, detail: { ...event.detail, state: 'MAINTENANCE', allowed_actions: [] } };
      expect(await post(maintenance)).toEqual({ status: 200, body: { result: 'accepted' } });
      expect(await post(maintenance)).toEqual({ status: 200, body: { result: 'duplicate' } });
      expect(
        await post({ ...maintenance, detail: { ...maintenance.detail, project_id: 'vnf-b', event_seq: 8 } }),
      ).toEqual({ status: 200, body: { result: 'ignored' } });
      expect(
        await post(
          envelope('maintenance.host', {
            service: 'fenix',
            session_id: SESSION,
            host: 'h',
            state: 'IN_MAINTENANCE',
            event_seq: 9,
          }),
        ),
      ).toEqual({
        status: 200,
        body: { result: 'ignored' },
      });
      const refused = await post({ hello: 'world' });
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ error: 'invalid_event', message: expect.stringMatching(/detail-type/) });
      await vnfm.settled();
      expect(seen.map((r) => [r.method, r.url, r.headers.authorization, JSON.parse(r.body)])).toEqual([
        ['PUT', `/v1/maintenance/${SESSION}/vnf-a`, 'Bearer tok', { state: 'ACK_MAINTENANCE' }],
      ]);
      expect(vnfm.stats).toEqual({ handled: { MAINTENANCE: 1 }, duplicates: 1, ignored: 2, invalid: 1, errors: 0 });
      expect(log.some((line) => line.includes('MAINTENANCE') && line.includes('ACK'))).toBe(true);
    } finally {
      await vnfm.stop();
    }
  });

  it('follows instance_ids, sends the token, and PUTs the reply, retrying 5xx', async () => {
    const { base, event, seen } = await fake([
      [200, { instance_ids: ['i-1', 'i-2'] }],
      [503, { error: 'unavailable', message: 'try again' }],
      [500, { error: 'internal_error', message: 'x' }],
      [200, {}],
    ]);
    const client = new FenixClient({ baseUrl: base, token: 'tok', backoffMs: 1 });
    expect(await client.getInstanceIds(event)).toEqual(['i-1', 'i-2']);
    await client.reply(event, 'ACK', { 'i-1': 'MIGRATE', 'i-2': 'OWN_ACTION' });
    expect(seen.map((r) => r.method)).toEqual(['GET', 'PUT', 'PUT', 'PUT']);
    expect(seen.every((r) => r.headers.authorization === 'Bearer tok')).toBe(true);
    expect(JSON.parse(seen[3]?.body ?? '')).toEqual({
      state: 'ACK_PREPARE_MAINTENANCE',
      instance_actions: { 'i-1': 'MIGRATE', 'i-2': 'OWN_ACTION' },
    });
    // A one-id list needs no request.
    const done = parseMaintenanceEvent(scheduled({ state: 'INSTANCE_ACTION_DONE', instance_ids: ['i-9'] }));
    if (done['detail-type'] !== 'maintenance.scheduled') throw new Error('wrong type');
    expect(await client.getInstanceIds(done)).toEqual(['i-9']);
    await expect(client.reply(done, 'ACK')).rejects.toThrow(/needs no reply/);
    expect(seen).toHaveLength(4);
  });

  it('retries a 409 not_ready (the session is still listing its instances), as the API asks', async () => {
    const { base, event, seen } = await fake([
      [409, { error: 'not_ready', message: 'session has not listed its instances yet; retry in a second' }],
      [200, { instance_ids: ['i-1'] }],
    ]);
    const client = new FenixClient({ baseUrl: base, backoffMs: 1 });
    expect(await client.getInstanceIds(event)).toEqual(['i-1']);
    expect(seen).toHaveLength(2);
  });

  it('throws the status and the API error on a 4xx, without retrying; gives up after 3 retries', async () => {
    const { base, event, seen } = await fake([
      [409, { error: 'round_closed', message: 'the session is not waiting for PREPARE_MAINTENANCE' }],
      [502, { error: 'bad_gateway', message: 'down' }],
    ]);
    const client = new FenixClient({ baseUrl: base, backoffMs: 1 });
    const error = await client.reply(event, 'NACK').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FenixApiError);
    expect(error).toMatchObject({
      status: 409,
      code: 'round_closed',
      apiMessage: 'the session is not waiting for PREPARE_MAINTENANCE',
    });
    expect(seen).toHaveLength(1);
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ state: 'NACK_PREPARE_MAINTENANCE' });
    expect(seen[0]?.headers.authorization).toBeUndefined();
    await expect(client.reply(event, 'ACK')).rejects.toMatchObject({ status: 502, code: 'bad_gateway' });
    expect(seen).toHaveLength(1 + 4);
  });
});

describe('sample VNFMs against the local runtime', () => {
  let fx: TestRuntime | undefined;
  const started = (): TestRuntime => {
    if (!fx) throw new Error('the runtime has not started yet');
    return fx;
  };
  const vnfms: Vnfm[] = [];
  afterAll(async () => {
    for (const vnfm of vnfms) await vnfm.stop();
    await fx?.stop();
  });

  it('run a session over every host to MAINTENANCE_DONE and leave each project its instance count', async () => {
    const inventory = JSON.parse(readFileSync(new URL('../../local/demo-inventory.json', import.meta.url), 'utf8')) as {
      hosts: { name: string; type: string }[];
      instances: { project_id: string; name: string }[];
    };
    // The VNFMs listen first (the subscriptions, read at start-up, name them) and learn the API URL later.
    const log: string[] = [];
    for (const [projectId, mode] of [
      ['vnf-a', 'migrate'],
      ['vnf-b', 'own_action'],
    ] as const) {
      vnfms.push(
        await startVnfm({
          fenixUrl: () => started().url,
          token: () => started().token({ project: projectId }),
          projectId,
          mode,
          log: (line) => log.push(line),
          backoffMs: 50,
        }),
      );
    }
    fx = await startTestRuntime({
      inventory,
      subscriptions: ['vnf-a', 'vnf-b'].map((projectId, i) => ({
        pattern: { source: ['fenix'], 'detail-type': ['maintenance.scheduled'], detail: { project_id: [projectId] } },
        url: vnfms[i]?.url,
      })),
      // Windows long enough for a loaded CI machine; the VNFMs answer in milliseconds.
      env: {
        FENIX_PROJECT_MAINTENANCE_REPLY: '5',
        FENIX_PROJECT_SCALE_IN_REPLY: '5',
        FENIX_EMPTY_CHECK_SECONDS: '1',
        FENIX_EMPTY_CHECK_ATTEMPTS: '10',
      },
    });
    const running = fx;
    const names = async (project: string) =>
      (await running.runtime.cloud.listInstances(project)).map((i) => i.name).sort();
    const before = { 'vnf-a': await names('vnf-a'), 'vnf-b': await names('vnf-b') };
    expect(before['vnf-a']).toHaveLength(6);
    expect(before['vnf-b']).toHaveLength(2);

    const created = await fx.api('POST', '/v1/maintenance', {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(7),
      hosts: [],
    });
    expect(created.status).toBe(200);
    const id = created.body.session_id as string;

    const end = await fx.waitForEvent(
      (e) =>
        e['detail-type'] === 'maintenance.session' &&
        e.detail.session_id === id &&
        ['MAINTENANCE_DONE', 'MAINTENANCE_FAILED'].includes(e.detail.state as string),
      50_000,
    );
    const failure =
      end.detail.state === 'MAINTENANCE_FAILED' ? (await fx.runtime.store.getSession(id))?.failure : undefined;
    expect({ state: end.detail.state, failure, log }).toMatchObject({ state: 'MAINTENANCE_DONE', failure: undefined });
    for (const vnfm of vnfms) await vnfm.settled();

    // The instance count (and the very names) of each project is restored.
    expect(await names('vnf-a')).toEqual(before['vnf-a']);
    expect(await names('vnf-b')).toEqual(before['vnf-b']);

    // Each compute: exactly one IN_MAINTENANCE, then exactly one MAINTENANCE_COMPLETE (repeats dropped).
    const deduper = new Deduper();
    const hostEvents = fx.events
      .map((e) => parseMaintenanceEvent(e))
      .filter((e) => e.detail.session_id === id && deduper.firstTime(e))
      .flatMap((e) => (e['detail-type'] === 'maintenance.host' ? [e.detail] : []));
    for (const host of inventory.hosts.filter((h) => h.type === 'compute')) {
      expect(
        hostEvents.filter((e) => e.host === host.name).map((e) => e.state),
        host.name,
      ).toEqual(['IN_MAINTENANCE', 'MAINTENANCE_COMPLETE']);
    }

    // Both VNFMs took part in every project-wide round, without a failed call.
    const [a, b] = vnfms as [Vnfm, Vnfm];
    for (const vnfm of [a, b]) {
      expect(vnfm.stats.errors, log.join('\n')).toBe(0);
      expect(vnfm.stats.invalid).toBe(0);
      expect(vnfm.stats.handled.MAINTENANCE).toBe(1);
      expect(vnfm.stats.handled.SCALE_IN ?? 0).toBeGreaterThanOrEqual(1);
      expect(vnfm.stats.handled.MAINTENANCE_COMPLETE).toBe(1);
    }
    // vnf-a let Fenix migrate (so it was told of each move); vnf-b moved its own.
    expect(
      (a.stats.handled.PREPARE_MAINTENANCE ?? 0) + (a.stats.handled.PLANNED_MAINTENANCE ?? 0),
    ).toBeGreaterThanOrEqual(1);
    expect(a.stats.handled.INSTANCE_ACTION_DONE ?? 0).toBeGreaterThanOrEqual(1);
    expect(
      (b.stats.handled.PREPARE_MAINTENANCE ?? 0) + (b.stats.handled.PLANNED_MAINTENANCE ?? 0),
    ).toBeGreaterThanOrEqual(1);
    expect(log.some((line) => line.includes('OWN_ACTION'))).toBe(true);
  });
});
