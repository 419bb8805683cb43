import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, getDefaultAutoSelectFamily, setDefaultAutoSelectFamily } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { LocalArtifacts } from '../../functions/adapters/artifacts/local-artifacts.js';
import {
  checkDownloadUrls,
  type DownloadEntry,
  downloadListSchema,
  fetchDownload,
  isPublicAddress,
  normalizeDownloads,
  parseDownloadAllow,
  type Resolver,
} from '../../functions/core/downloads.js';
import { ValidationError } from '../../functions/core/errors.js';
import { describeIssues } from '../../functions/core/schemas.js';

const SHA_A = 'a'.repeat(64);

describe('download schema and normalizing', () => {
  const normalize = (raw: unknown) => normalizeDownloads(downloadListSchema.parse(raw));
  /** The field as the create body holds it, so messages carry the `download.` path. */
  const body = z.strictObject({ download: downloadListSchema });

  it('takes strings and objects, naming each by the last path segment unless named', () => {
    expect(
      normalize([
        'https://files.example/a/image.qcow2',
        { url: 'https://files.example/b/My%20Tool-1.0.tgz?x=1', name: 'tool.tgz' },
        { url: 'https://files.example/c/fw_2.bin', sha256: 'ABCDEF'.padEnd(64, '0') },
        'https://files.example/d/v1.2%5F3.rpm',
      ]),
    ).toEqual([
      { url: 'https://files.example/a/image.qcow2', name: 'image.qcow2' },
      { url: 'https://files.example/b/My%20Tool-1.0.tgz?x=1', name: 'tool.tgz' },
      { url: 'https://files.example/c/fw_2.bin', name: 'fw_2.bin', sha256: 'abcdef'.padEnd(64, '0') },
      { url: 'https://files.example/d/v1.2%5F3.rpm', name: 'v1.2_3.rpm' },
    ]);
  });

  it.each([
    [['https://files.example/a/'], 'download.0.name: cannot take a file name from the URL (it has none); give "name"'],
    [['https://files.example'], 'download.0.name: cannot take a file name from the URL (it has none)'],
    [
      ['https://files.example/a/My%20Tool.tgz'],
      'download.0.name: cannot take a file name from the URL (its last path segment "My Tool.tgz"',
    ],
    [['https://files.example/a/..%2F..%2Fetc'], 'download.0.name:'],
    [['https://files.example/a/%ZZ'], 'download.0.name:'],
    [
      ['https://files.example/x.bin', 'https://mirror.example/other/x.bin'],
      'download.1.name: "x.bin" is already the name of download.0',
    ],
    [
      ['https://files.example/x.bin', { url: 'https://files.example/y', name: 'X.BIN' }],
      'download.1.name: "X.BIN" is already',
    ],
  ])('refuses %j', (raw, message) => {
    expect(() => normalize(raw)).toThrow(ValidationError);
    expect(() => normalize(raw)).toThrow(message);
  });

  it.each([
    [[{ url: 'https://a.example/x', extra: 1 }], 'unknown field in download.0: extra'],
    [[{ url: 'https://a.example/x', sha256: 'abc' }], 'download.0.sha256: sha256 must be 64 hexadecimal characters'],
    [[{ url: 'https://a.example/x', sha256: 'g'.repeat(64) }], 'download.0.sha256:'],
    [[{ url: 'https://a.example/x', name: '../etc/passwd' }], 'download.0.name: name must be'],
    [[{ url: 'https://a.example/x', name: '.hidden' }], 'download.0.name: name must be'],
    [[{ sha256: SHA_A }], 'download.0'],
    [[`https://a.example/${'x'.repeat(2048)}`], 'download.0: a download URL must be at most 2048 characters'],
    [['just words'], 'download.0: must be an absolute URL'],
    [[42], 'download.0: each download must be a URL string or an object'],
    ['https://a.example/x', 'download: download must be a list'],
    [new Array(101).fill('https://a.example/x'), 'download: at most 100 downloads per session'],
  ])('the body field refuses download %j', (download, message) => {
    const result = body.safeParse({ download });
    expect(result.success).toBe(false);
    if (!result.success) expect(describeIssues(result.error)).toContain(message);
  });

  it('accepts 100 entries and a full object', () => {
    const list = Array.from({ length: 100 }, (_, i) => `https://a.example/f${i}`);
    expect(normalize(list)).toHaveLength(100);
    expect(normalize([{ url: 'https://a.example/x', sha256: SHA_A, name: 'y' }])).toEqual([
      { url: 'https://a.example/x', name: 'y', sha256: SHA_A },
    ]);
  });
});

describe('parseDownloadAllow', () => {
  it('reads host:port entries canonically', () => {
    expect(parseDownloadAllow(undefined)).toEqual([]);
    expect(parseDownloadAllow('')).toEqual([]);
    expect(parseDownloadAllow(' 127.0.0.1:8080, Mirror.Lab:80 ,[::FFFF:127.0.0.1]:8443,[::1]:0443,')).toEqual([
      '127.0.0.1:8080',
      'mirror.lab:80',
      '[::ffff:7f00:1]:8443',
      '[::1]:443',
    ]);
  });

  it.each([
    'mirror.lab',
    'mirror.lab:0',
    'mirror.lab:65536',
    'http://mirror.lab:80',
    '::1:80',
    'a b:80',
    'x:80/path',
    'u@x:80',
  ])('refuses %j', (entry) => {
    expect(() => parseDownloadAllow(`ok.lab:1,${entry}`)).toThrow(`FENIX_DOWNLOAD_ALLOW: "${entry}" is not host:port`);
  });
});

describe('isPublicAddress', () => {
  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.215.14',
    '100.63.255.255',
    '100.128.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '192.167.255.255',
    '198.17.255.255',
    '198.20.0.0',
    '223.255.255.255',
    '2606:4700:4700::1111',
    '2a00:1450:4001:82b::200e',
    '::ffff:8.8.8.8',
    '::ffff:808:808',
    '64:ff9b::808:808',
    '2002:808:808::1',
  ])('%s is public', (ip) => {
    expect(isPublicAddress(ip)).toBe(true);
  });

  it.each([
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'this network'],
    ['10.0.0.5', 'private'],
    ['10.255.255.255', 'private'],
    ['100.64.0.1', 'CGNAT'],
    ['100.127.255.255', 'CGNAT'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.169.254', 'link-local (metadata)'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.0.0.8', 'IETF'],
    ['192.0.2.1', 'documentation'],
    ['192.168.1.1', 'private'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local with zone'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['2001::1', 'Teredo / IETF'],
    ['3fff::1', 'documentation'],
    ['100::1', 'discard'],
    ['::ffff:127.0.0.1', 'mapped loopback'],
    ['::ffff:7f00:1', 'mapped loopback (hex)'],
    ['::ffff:10.0.0.5', 'mapped private'],
    ['::ffff:169.254.169.254', 'mapped metadata'],
    ['::127.0.0.1', 'IPv4-compatible (deprecated)'],
    ['64:ff9b::7f00:1', 'NAT64 of loopback'],
    ['64:ff9b::10.0.0.5', 'NAT64 of private'],
    ['64:ff9b:1::808:808', 'local-use NAT64'],
    ['2002:7f00:1::', '6to4 of loopback'],
    ['localhost', 'not an address'],
    ['', 'empty'],
    ['[::1]', 'bracketed'],
  ])('%s is not public (%s)', (ip) => {
    expect(isPublicAddress(ip)).toBe(false);
  });
});

/** A resolver from a table; unknown names fail like getaddrinfo does. */
const resolverOf =
  (table: Record<string, string[]>): Resolver =>
  async (hostname) => {
    const addresses = table[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses;
  };

const entry = (url: string, extra: Partial<DownloadEntry> = {}): DownloadEntry => ({ url, name: 'file', ...extra });

describe('checkDownloadUrls', () => {
  const resolve = resolverOf({
    'files.example': ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
    'internal.example': ['10.0.0.5'],
    'mixed.example': ['93.184.215.14', '127.0.0.1'],
    'mapped.example': ['::ffff:127.0.0.1'],
  });
  const refusal = async (urls: string[], allow: string[] = []) => {
    const error = await checkDownloadUrls(
      urls.map((url) => entry(url)),
      allow,
      resolve,
    ).catch((caught) => caught);
    expect(error).toBeInstanceOf(ValidationError);
    return (error as Error).message;
  };

  it('accepts https to a name whose every address is public', async () => {
    await expect(
      checkDownloadUrls([entry('https://files.example/a.bin'), entry('https://files.example:8443/b')], [], resolve),
    ).resolves.toBeUndefined();
    await expect(checkDownloadUrls([entry('https://8.8.8.8/x')], [], resolve)).resolves.toBeUndefined();
  });

  it.each([
    [
      'http://files.example/a.bin',
      'download.0.url: plain http is allowed only for hosts in FENIX_DOWNLOAD_ALLOW (allow it with FENIX_DOWNLOAD_ALLOW=files.example:80)',
    ],
    [
      'https://127.0.0.1/x',
      'download.0.url: 127.0.0.1 is not a public address (allow it with FENIX_DOWNLOAD_ALLOW=127.0.0.1:443)',
    ],
    ['https://0x7f.1/x', 'download.0.url: 127.0.0.1 is not a public address'],
    [
      'https://[::1]:8443/x',
      'download.0.url: ::1 is not a public address (allow it with FENIX_DOWNLOAD_ALLOW=[::1]:8443)',
    ],
    ['https://[::ffff:127.0.0.1]/x', 'download.0.url: ::ffff:7f00:1 is not a public address'],
    ['https://169.254.169.254/latest/meta-data', 'download.0.url: 169.254.169.254 is not a public address'],
    [
      'https://internal.example/x',
      'download.0.url: internal.example resolves to 10.0.0.5, not a public address (allow it with FENIX_DOWNLOAD_ALLOW=internal.example:443)',
    ],
    ['https://mixed.example/x', 'download.0.url: mixed.example resolves to 127.0.0.1, not a public address'],
    ['https://mapped.example/x', 'download.0.url: mapped.example resolves to ::ffff:127.0.0.1'],
    ['https://nowhere.example/x', 'download.0.url: cannot resolve nowhere.example (ENOTFOUND)'],
    ['https://user:secret@files.example/x', 'download.0.url: a URL must not carry a user name or password'],
    ['https://user@files.example/x', 'download.0.url: a URL must not carry a user name or password'],
    ['ftp://files.example/x', 'download.0.url: only http and https URLs are allowed, not ftp'],
    ['file:///etc/passwd', 'download.0.url: only http and https URLs are allowed, not file'],
  ])('refuses %s', async (url, message) => {
    expect(await refusal([url])).toContain(message);
  });

  it('refuses https://localhost:8443 through the real resolver', async () => {
    const error = await checkDownloadUrls([entry('https://localhost:8443/x')], []).catch((caught) => caught);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(
      /^download\.0\.url: localhost resolves to (127\.0\.0\.1|::1)(, (127\.0\.0\.1|::1))*, not a public address \(allow it with FENIX_DOWNLOAD_ALLOW=localhost:8443\)$/,
    );
  });

  it('names the first entry that cannot be allowed', async () => {
    expect(await refusal(['https://files.example/a', 'https://internal.example/b', 'http://files.example/c'])).toMatch(
      /^download\.1\.url: internal\.example resolves to 10\.0\.0\.5/,
    );
  });

  it('allows any scheme of the two and any address for a listed host:port, without resolving it', async () => {
    const unresolvable: Resolver = async () => {
      throw new Error('must not be asked');
    };
    const allow = parseDownloadAllow('mirror.lab:80,127.0.0.1:8080,[::1]:8443,internal.example:443');
    await expect(
      checkDownloadUrls(
        [
          entry('http://mirror.lab/a'),
          entry('http://Mirror.LAB:80/b'),
          entry('http://127.0.0.1:8080/c'),
          entry('https://127.0.0.1:8080/d'),
          entry('https://[::1]:8443/e'),
          entry('https://internal.example/f'),
        ],
        allow,
        unresolvable,
      ),
    ).resolves.toBeUndefined();
    // The port is part of the entry, and the name is compared, not what it resolves to.
    expect(await refusal(['http://mirror.lab:8080/a'], allow)).toContain('FENIX_DOWNLOAD_ALLOW=mirror.lab:8080');
    expect(await refusal(['http://127.0.0.1/a'], allow)).toContain('FENIX_DOWNLOAD_ALLOW=127.0.0.1:80');
  });

  it('still refuses user names and other schemes on an allowed host', async () => {
    const allow = ['mirror.lab:80'];
    expect(await refusal(['http://u:p@mirror.lab/a'], allow)).toContain('user name or password');
    expect(await refusal(['ftp://mirror.lab:80/a'], allow)).toContain('not ftp');
  });
});

// ---------------------------------------------------------------------------------------------------
// fetchDownload against a local server

const BODY = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31 + (i >> 8)) % 256));
const BODY_SHA = createHash('sha256').update(BODY).digest('hex');

describe('fetchDownload', () => {
  let server: Server;
  let root: string;
  let artifacts: LocalArtifacts;
  let port = 0;
  let origin = '';
  let allow: string[] = [];

  /** Answers `/file.bin` (with Content-Length), `/chunked` (without), statuses, redirects and a stall. */
  const routes: Record<string, (response: import('node:http').ServerResponse) => void> = {
    '/file.bin': (response) => {
      response.writeHead(200, { 'content-length': BODY.length });
      response.end(BODY);
    },
    '/chunked': (response) => {
      response.writeHead(200);
      Readable.from([BODY.subarray(0, 100_000), BODY.subarray(100_000)]).pipe(response);
    },
    '/missing': (response) => {
      response.writeHead(404);
      response.end('no such file');
    },
    '/to-file': (response) => {
      response.writeHead(302, { location: '/file.bin' });
      response.end();
    },
    '/to-to-file': (response) => {
      response.writeHead(301, { location: `${origin}/to-file` });
      response.end();
    },
    '/to-localhost': (response) => {
      response.writeHead(302, { location: `http://localhost:${port}/file.bin` });
      response.end();
    },
    '/to-metadata': (response) => {
      response.writeHead(307, { location: 'https://169.254.169.254/latest/meta-data' });
      response.end();
    },
    '/to-internal': (response) => {
      response.writeHead(308, { location: 'https://internal.example/x' });
      response.end();
    },
    '/loop': (response) => {
      response.writeHead(302, { location: '/loop' });
      response.end();
    },
    '/stall': (response) => {
      response.writeHead(200, { 'content-length': 1000 });
      response.write('only a little');
    },
    '/short': (response) => {
      response.writeHead(200, { 'content-length': 1000 });
      response.end('only a little', () => response.socket?.destroy());
    },
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'fenix-downloads-'));
    artifacts = new LocalArtifacts(root);
    server = createServer((request, response) => {
      const route = routes[new URL(request.url ?? '/', 'http://x').pathname];
      if (route) route(response);
      else {
        response.writeHead(500);
        response.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    origin = `http://127.0.0.1:${port}`;
    allow = [`127.0.0.1:${port}`];
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(root, { recursive: true, force: true });
  });

  const fetch = (
    url: string,
    extra: Partial<DownloadEntry> = {},
    options: { maxBytes?: number; timeoutMs?: number; resolve?: Resolver; allow?: string[] } = {},
  ) =>
    fetchDownload('session-1', entry(url, { name: 'image.bin', ...extra }), artifacts, {
      allow: options.allow ?? allow,
      maxBytes: options.maxBytes ?? 10_000_000,
      timeoutMs: options.timeoutMs,
      resolve: options.resolve,
    });

  it('streams a file into the store, with its sha256 and size', async () => {
    const record = await fetch(`${origin}/file.bin`);
    expect(record).toEqual({
      url: `${origin}/file.bin`,
      name: 'image.bin',
      sha256: BODY_SHA,
      size: BODY.length,
      status: 'DONE',
      location: join(root, 'session-1', 'image.bin'),
    });
    expect((await readFile(join(root, 'session-1', 'image.bin'))).equals(BODY)).toBe(true);
  });

  it('takes a body without Content-Length', async () => {
    const record = await fetch(`${origin}/chunked`, { name: 'chunked.bin' });
    expect(record).toMatchObject({ status: 'DONE', sha256: BODY_SHA, size: BODY.length });
    expect((await readFile(join(root, 'session-1', 'chunked.bin'))).equals(BODY)).toBe(true);
  });

  it('accepts a matching sha256 and fails a different one, naming both', async () => {
    expect(await fetch(`${origin}/file.bin`, { name: 'checked.bin', sha256: BODY_SHA })).toMatchObject({
      status: 'DONE',
      sha256: BODY_SHA,
    });
    expect(await fetch(`${origin}/file.bin`, { name: 'wrong.bin', sha256: SHA_A })).toEqual({
      url: `${origin}/file.bin`,
      name: 'wrong.bin',
      sha256: null,
      size: BODY.length,
      status: 'FAILED',
      location: null,
      error: `${origin}/file.bin: sha256 is ${BODY_SHA}, expected ${SHA_A}`,
    });
  });

  it('fails on an HTTP error status, naming it', async () => {
    expect(await fetch(`${origin}/missing`, { name: 'missing.bin' })).toMatchObject({
      status: 'FAILED',
      size: 0,
      location: null,
      error: `${origin}/missing: HTTP 404 Not Found`,
    });
    expect(existsSync(join(root, 'session-1', 'missing.bin'))).toBe(false);
  });

  it.each([
    ['/file.bin', `Content-Length ${BODY.length} is larger than the 100000-byte limit (FENIX_DOWNLOAD_MAX_BYTES)`],
    ['/chunked', 'larger than the 100000-byte limit (FENIX_DOWNLOAD_MAX_BYTES)'],
  ])('fails %s over the size cap and leaves no file', async (path, cause) => {
    const record = await fetch(`${origin}${path}`, { name: 'capped.bin' }, { maxBytes: 100_000 });
    expect(record).toMatchObject({
      status: 'FAILED',
      sha256: null,
      location: null,
      error: `${origin}${path}: ${cause}`,
    });
    expect(record.size).toBeLessThanOrEqual(100_000 + 65_536);
    expect(
      (await readdir(join(root, 'session-1'))).filter((file) => file.startsWith('capped') || file.endsWith('.part')),
    ).toEqual([]);
  });

  it('follows redirects to allowed places', async () => {
    expect(await fetch(`${origin}/to-to-file`, { name: 'redirected.bin' })).toMatchObject({
      url: `${origin}/to-to-file`,
      status: 'DONE',
      sha256: BODY_SHA,
      size: BODY.length,
    });
  });

  it.each([
    [
      '/to-localhost',
      (port: number) =>
        `redirected to http://localhost:${port}/file.bin: not allowed: plain http is allowed only for hosts in FENIX_DOWNLOAD_ALLOW (allow it with FENIX_DOWNLOAD_ALLOW=localhost:${port})`,
    ],
    [
      '/to-metadata',
      () =>
        'redirected to https://169.254.169.254/latest/meta-data: not allowed: 169.254.169.254 is not a public address (allow it with FENIX_DOWNLOAD_ALLOW=169.254.169.254:443)',
    ],
    [
      '/to-internal',
      () =>
        'redirected to https://internal.example/x: not allowed: internal.example resolves to 10.0.0.5, not a public address (allow it with FENIX_DOWNLOAD_ALLOW=internal.example:443)',
    ],
    ['/loop', () => 'more than 5 redirects'],
  ])('fails a redirect %s that cannot be allowed', async (path, cause) => {
    const record = await fetch(
      `${origin}${path}`,
      { name: 'redirect.bin' },
      { resolve: resolverOf({ 'internal.example': ['10.0.0.5'] }) },
    );
    expect(record).toMatchObject({ status: 'FAILED', location: null });
    expect(record.error).toBe(`${origin}${path}: ${cause(port)}`);
  });

  it('checks the address it connects to (a name that now resolves elsewhere is refused)', async () => {
    const url = `https://rebind.example:${port}/file.bin`;
    // At create time the name was public...
    await expect(
      checkDownloadUrls([entry(url)], allow, resolverOf({ 'rebind.example': ['93.184.215.14'] })),
    ).resolves.toBeUndefined();
    // ...by the fetch it points at loopback: refused in the connection's own lookup.
    const record = await fetch(url, {}, { resolve: resolverOf({ 'rebind.example': ['127.0.0.1'] }) });
    expect(record).toMatchObject({
      status: 'FAILED',
      error: `${url}: not allowed: rebind.example resolves to 127.0.0.1, not a public address (allow it with FENIX_DOWNLOAD_ALLOW=rebind.example:${port})`,
    });
  });

  it('connects to an allowed name through the injected resolver', async () => {
    const record = await fetch(
      `http://files.lab:${port}/file.bin`,
      { name: 'named.bin' },
      { allow: [`files.lab:${port}`], resolve: resolverOf({ 'files.lab': ['127.0.0.1'] }) },
    );
    expect(record).toMatchObject({ status: 'DONE', sha256: BODY_SHA, size: BODY.length });
  });

  it('answers both shapes of lookup (address list with autoSelectFamily, one address without)', async () => {
    const resolve = resolverOf({ 'files.lab': ['127.0.0.1'] });
    const before = getDefaultAutoSelectFamily();
    try {
      for (const auto of [true, false]) {
        setDefaultAutoSelectFamily(auto);
        const record = await fetch(
          `http://files.lab:${port}/file.bin`,
          { name: `lookup-${auto}.bin` },
          { allow: [`files.lab:${port}`], resolve },
        );
        expect(record).toMatchObject({ status: 'DONE', sha256: BODY_SHA });
      }
    } finally {
      setDefaultAutoSelectFamily(before);
    }
  });

  it('fails a connection that stops sending', async () => {
    const record = await fetch(`${origin}/stall`, { name: 'stalled.bin' }, { timeoutMs: 150 });
    expect(record).toMatchObject({
      status: 'FAILED',
      size: 'only a little'.length,
      error: `${origin}/stall: no data for 150 ms (timed out)`,
    });
  });

  it('fails a body that ends before its Content-Length', async () => {
    const record = await fetch(`${origin}/short`, { name: 'short.bin' });
    expect(record.status).toBe('FAILED');
    expect(record.error).toMatch(new RegExp(`^${origin}/short: the (connection broke|body ended) after 13 `));
  });

  it('fails a refused connection', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const record = await fetch(`http://127.0.0.1:${closedPort}/x`, {}, { allow: [`127.0.0.1:${closedPort}`] });
    expect(record).toMatchObject({
      status: 'FAILED',
      error: `http://127.0.0.1:${closedPort}/x: connect ECONNREFUSED 127.0.0.1:${closedPort}`,
    });
  });
});

describe('LocalArtifacts', () => {
  it('keeps files per session and removes a session whole', async () => {
    const root = await mkdtemp(join(tmpdir(), 'fenix-artifacts-'));
    try {
      const store = new LocalArtifacts(root);
      const location = await store.write('s-1', 'a.txt', Readable.from([Buffer.from('hello')]));
      await store.write('s-2', 'b.txt', Readable.from([Buffer.from('other')]));
      expect(location).toBe(join(root, 's-1', 'a.txt'));
      expect(await readFile(location, 'utf8')).toBe('hello');
      await store.removeSession('s-1');
      expect(existsSync(join(root, 's-1'))).toBe(false);
      expect(await readFile(join(root, 's-2', 'b.txt'), 'utf8')).toBe('other');
      await expect(store.removeSession('s-1')).resolves.toBeUndefined();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it.each([
    ['..', 'x'],
    ['s-1', '../x'],
    ['s-1', '..'],
    ['../s', 'x'],
    ['s-1', 'a/b'],
    ['', 'x'],
  ])('refuses to leave its root (%j, %j)', async (sessionId, name) => {
    const store = new LocalArtifacts(join(tmpdir(), 'fenix-artifacts-never'));
    await expect(store.write(sessionId, name, Readable.from(['x']))).rejects.toThrow(
      'not a safe artefact path segment',
    );
    await expect(store.removeSession(sessionId === 's-1' ? '..' : sessionId)).rejects.toThrow('not a safe');
    expect(existsSync(join(tmpdir(), 'fenix-artifacts-never'))).toBe(false);
  });
});
