import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fenixTimeIn, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

/**
 * `download` (DESIGN §11) end to end: the URL rules at create, the fetch before the first
 * notification, the artefact store under the data dir, what plug-ins receive, the failures that
 * stop a session before any project is asked or host touched, and removal with the session.
 * The artefacts come from a local HTTP server the runtime is allowed to reach (FENIX_DOWNLOAD_ALLOW).
 */

const firmware = randomBytes(1024 * 1024);
const tools = randomBytes(64 * 1024);
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const MAX_BYTES = 2 * 1024 * 1024;

let files: Server;
let base: string;
let t: TestRuntime;
/** What the `recorder` plug-in was given, by session. */
const pluginPayloads = new Map<string, any>();

beforeAll(async () => {
  files = createServer((request, response) => {
    const body = { '/fw.bin': firmware, '/tools.tgz': tools, '/big.iso': Buffer.alloc(MAX_BYTES + 1) }[
      request.url ?? ''
    ];
    if (body) response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
    else response.writeHead(404).end('not here');
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  const { port } = files.address() as AddressInfo;
  base = `http://127.0.0.1:${port}`;
  t = await startTestRuntime({
    inventory: {
      hosts: [
        { name: 'c-1', type: 'compute', vcpus: 4 },
        { name: 'c-2', type: 'compute', vcpus: 4 },
        { name: 'c-3', type: 'compute', vcpus: 4 },
      ],
      instances: [
        { name: 'a-1', project_id: 'vnf-a', host: 'c-1', vcpus: 1 },
        { name: 'a-2', project_id: 'vnf-a', host: 'c-2', vcpus: 1 },
        { name: 'a-3', project_id: 'vnf-a', host: 'c-3', vcpus: 1 },
      ],
    },
    subscriptions: [],
    env: { FENIX_DOWNLOAD_ALLOW: `127.0.0.1:${port}`, FENIX_DOWNLOAD_MAX_BYTES: String(MAX_BYTES) },
    plugins: {
      recorder: async (payload: any) => {
        pluginPayloads.set(payload.session_id, payload);
        return { state: 'DONE' };
      },
    },
  });
});

afterAll(async () => {
  await t?.stop();
  files?.closeAllConnections();
  await new Promise((resolve) => files?.close(resolve));
});

const create = (host: string, download: unknown[], extra: Record<string, unknown> = {}) =>
  t.api('POST', '/v1/maintenance', {
    state: 'MAINTENANCE',
    maintenance_at: fenixTimeIn(3),
    hosts: [host],
    download,
    ...extra,
  });

/** Nothing past the download step happened: no notification, no host event, the host still enabled. */
const expectUntouched = async (id: string, host: string) => {
  const ofSession = t.events.filter((e) => e.detail.session_id === id);
  expect(ofSession.map((e) => `${e['detail-type']} ${e.detail.state}`)).toEqual([
    'maintenance.session MAINTENANCE',
    'maintenance.session MAINTENANCE_FAILED',
  ]);
  expect((await t.runtime.cloud.getHost(host))?.disabled).toBe(false);
};

describe('download', () => {
  it('fetches every artefact before the first notification, keeps it under the data dir, hands the list to plug-ins, and removes it with the session', async () => {
    const created = await create(
      'c-1',
      [`${base}/fw.bin`, { url: `${base}/tools.tgz`, sha256: sha256(tools), name: 'tools-1.2.tgz' }],
      {
        actions: [{ plugin: 'recorder', type: 'pre' }],
      },
    );
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const id = created.body.session_id as string;
    await t.waitForState(id, 'MAINTENANCE_DONE', 60_000);

    const folder = join(t.runtime.dataDir, 'artifacts', id);
    const detail = (await t.api('GET', `/v1/maintenance/${id}/detail`)).body;
    expect(detail.session.downloads).toEqual([
      {
        url: `${base}/fw.bin`,
        name: 'fw.bin',
        sha256: sha256(firmware),
        size: firmware.length,
        status: 'DONE',
        location: join(folder, 'fw.bin'),
      },
      {
        url: `${base}/tools.tgz`,
        name: 'tools-1.2.tgz',
        sha256: sha256(tools),
        size: tools.length,
        status: 'DONE',
        location: join(folder, 'tools-1.2.tgz'),
      },
    ]);
    expect(readFileSync(join(folder, 'fw.bin')).equals(firmware)).toBe(true);
    expect(readFileSync(join(folder, 'tools-1.2.tgz')).equals(tools)).toBe(true);
    expect(pluginPayloads.get(id)?.download).toEqual(detail.session.downloads);
    expect((detail.history as any[]).filter((entry) => entry.what === 'download')).toHaveLength(2);
    // Fetched before anyone was told: the downloads are filed under the first step, before any notification.
    const firstNotice = (detail.history as any[]).find((entry) => entry.what === 'notification');
    const downloaded = (detail.history as any[]).filter((entry) => entry.what === 'download');
    for (const entry of downloaded) expect(entry.seq).toBeLessThan(firstNotice.seq);

    expect((await t.api('DELETE', `/v1/maintenance/${id}`)).status).toBe(200);
    expect(existsSync(folder)).toBe(false);
  });

  it.each([
    ['a checksum mismatch', (url: string) => ({ url: `${url}/fw.bin`, sha256: 'ab'.repeat(32) }), 'sha256'],
    ['an HTTP error', (url: string) => `${url}/missing.bin`, 'HTTP 404'],
    ['an artefact over the size cap', (url: string) => `${url}/big.iso`, 'limit'],
  ])(
    'fails the session on %s, naming the URL, before any project is asked or host touched',
    async (_, entry, cause) => {
      const download = entry(base);
      const url = typeof download === 'string' ? download : download.url;
      const created = await create('c-2', [download]);
      expect(created.status, JSON.stringify(created.body)).toBe(200);
      const id = created.body.session_id as string;
      await t.waitForEvent((e) => e.detail.session_id === id && e.detail.state === 'MAINTENANCE_FAILED');
      const detail = (await t.api('GET', `/v1/maintenance/${id}/detail`)).body;
      expect(detail.session.failure).toContain(url);
      expect(detail.session.failure).toContain(cause);
      expect(detail.session.failure_details).toEqual({ url });
      expect(detail.session.downloads).toEqual([
        expect.objectContaining({ url, status: 'FAILED', location: null, error: expect.stringContaining(cause) }),
      ]);
      await expectUntouched(id, 'c-2');
      expect((await t.api('DELETE', `/v1/maintenance/${id}`)).status).toBe(200);
      expect(existsSync(join(t.runtime.dataDir, 'artifacts', id))).toBe(false);
    },
  );

  it.each([
    ['plain http to a host:port not allowed', 'http://127.0.0.1:1/fw.bin', 'download.0.url'],
    ['https to a loopback address', 'https://127.0.0.1/fw.bin', 'download.0.url'],
    ['a name that resolves to loopback', 'https://localhost/fw.bin', 'download.0.url'],
    ['the cloud metadata address', 'https://169.254.169.254/latest/meta-data/iam', 'download.0.url'],
    ['a private address', 'https://10.1.2.3/fw.bin', 'download.0.url'],
    ['another scheme', 'ftp://mirror.example.org/fw.bin', 'download.0'],
    ['credentials in the URL', 'https://user:secret@mirror.example.org/fw.bin', 'download.0'],
  ])('refuses %s at create with a 400, and creates nothing', async (_, url, field) => {
    const before = await t.dumpTable();
    const answer = await create('c-3', [url]);
    expect(answer.status, JSON.stringify(answer.body)).toBe(400);
    expect(answer.body.message).toContain(field);
    expect(await t.dumpTable()).toBe(before);
  });

  it('refuses two downloads with one name', async () => {
    const answer = await create('c-3', [`${base}/fw.bin`, { url: `${base}/tools.tgz`, name: 'fw.bin' }]);
    expect(answer.status).toBe(400);
    expect(answer.body.message).toMatch(/^download\.1\.name: /);
  });
});
