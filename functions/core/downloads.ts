import { createHash } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import * as z from 'zod';
import { ValidationError } from './errors.js';
import type { ArtifactStore } from './ports.js';

/**
 * Downloads of a maintenance session (DESIGN §11): the `download` field of the create body, the
 * create-time check of every URL, and the fetch into the ArtifactStore. Only `https` to public
 * addresses is allowed; anything else (plain http, private or reserved addresses) only for a
 * `host:port` in FENIX_DOWNLOAD_ALLOW. Names are resolved and every address is checked, at create
 * time and again when connecting (the name may resolve differently by then). Nothing fetched is run.
 */

/** A stored file's name (also what the artifact stores accept as a path segment). */
export const DOWNLOAD_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

/**
 * The key of an artefact (or of a session's folder) from plain segments only: no separators, no
 * `..`, so neither a folder nor a bucket prefix can be left. Every artefact store builds on it.
 */
export const artifactKey = (...segments: string[]): string => {
  for (const segment of segments)
    if (!DOWNLOAD_NAME.test(segment)) throw new Error(`not a safe artefact path segment: ${JSON.stringify(segment)}`);
  return segments.join('/');
};
const NAME_RULE = '1-255 letters, digits, . _ or -, starting with a letter or digit';
const SHA256 = /^[0-9A-Fa-f]{64}$/;
const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

const downloadUrl = z
  .string({ error: 'must be a URL string' })
  .max(2048, 'a download URL must be at most 2048 characters')
  .refine((text) => URL.canParse(text), 'must be an absolute URL');

export const downloadEntrySchema = z.union(
  [
    downloadUrl,
    z.strictObject({
      url: downloadUrl,
      sha256: z
        .string({ error: 'sha256 must be a string' })
        .regex(SHA256, 'sha256 must be 64 hexadecimal characters')
        .optional(),
      name: z.string({ error: 'name must be a string' }).regex(DOWNLOAD_NAME, `name must be ${NAME_RULE}`).optional(),
    }),
  ],
  { error: 'each download must be a URL string or an object {"url", "sha256"?, "name"?}' },
);

export const downloadListSchema = z
  .array(downloadEntrySchema, { error: 'download must be a list' })
  .max(100, 'at most 100 downloads per session');

export interface DownloadEntry {
  url: string;
  name: string;
  sha256?: string;
}

export interface DownloadRecord {
  url: string;
  name: string;
  /** The computed digest (DONE only). */
  sha256: string | null;
  /** Bytes received (for FAILED, as far as the download got). */
  size: number;
  status: 'DONE' | 'FAILED';
  /** Where the ArtifactStore keeps it (DONE only). */
  location: string | null;
  /** One sentence naming the URL and the cause (FAILED only). */
  error?: string;
}

/** Fills in names (the URL's last path segment), lower-cases checksums, refuses two entries with one name. */
export const normalizeDownloads = (raw: z.infer<typeof downloadListSchema>): DownloadEntry[] => {
  // Case-insensitive: on macOS and Windows folders `A.bin` and `a.bin` are one file.
  const seen = new Map<string, number>();
  return raw.map((item, index) => {
    const given = typeof item === 'string' ? { url: item } : item;
    const name = given.name ?? nameFromUrl(given.url, index);
    const earlier = seen.get(name.toLowerCase());
    if (earlier !== undefined)
      throw new ValidationError(`download.${index}.name: "${name}" is already the name of download.${earlier}`);
    seen.set(name.toLowerCase(), index);
    return { url: given.url, name, ...(given.sha256 ? { sha256: given.sha256.toLowerCase() } : {}) };
  });
};

const nameFromUrl = (url: string, index: number): string => {
  let segment: string | undefined;
  try {
    segment = decodeURIComponent(new URL(url).pathname.split('/').at(-1) ?? '');
  } catch {
    // not a URL, or a segment that does not decode: refused below
  }
  if (segment !== undefined && DOWNLOAD_NAME.test(segment)) return segment;
  const found = segment ? `its last path segment ${JSON.stringify(segment)} is not ${NAME_RULE}` : 'it has none';
  throw new ValidationError(`download.${index}.name: cannot take a file name from the URL (${found}); give "name"`);
};

/** FENIX_DOWNLOAD_ALLOW: comma-separated `host:port` (IPv6 in brackets), canonical as WHATWG URLs write hosts. */
export const parseDownloadAllow = (text: string | undefined): string[] =>
  (text ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry);
      const port = Number(match?.[2]);
      let host: string | undefined;
      try {
        host = match ? new URL(`http://${match[1]}/`).hostname : undefined;
      } catch {
        // refused below
      }
      if (!host || port < 1 || port > 65535)
        throw new Error(
          `FENIX_DOWNLOAD_ALLOW: "${entry}" is not host:port (a name, an IPv4 address or a [bracketed] IPv6 address, then a port 1-65535)`,
        );
      return `${host}:${port}`;
    });

// ---------------------------------------------------------------------------------------------------
// Addresses

const ipv4Number = (ip: string): number =>
  ip.split('.').reduce((value, octet) => ((value << 8) | Number(octet)) >>> 0, 0);

/** Not globally reachable IPv4 ranges (RFC 6890 and the IANA special-purpose registry). */
const PRIVATE_V4 = [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // CGNAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local (cloud metadata lives here)
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast (deprecated)
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
].map(([base, bits]) => {
  const mask = Number(bits) === 0 ? 0 : (0xffffffff << (32 - Number(bits))) >>> 0;
  return { base: ipv4Number(String(base)), mask };
});

const isPublicV4 = (value: number): boolean => !PRIVATE_V4.some(({ base, mask }) => (value & mask) >>> 0 === base);

/** The eight 16-bit groups of a valid IPv6 address (zone dropped, a trailing dotted quad folded in). */
const ipv6Groups = (ip: string): number[] => {
  let text = ip.split('%')[0] ?? '';
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const value = ipv4Number(dotted[2] ?? '');
    text = `${dotted[1]}${(value >>> 16).toString(16)}:${(value & 0xffff).toString(16)}`;
  }
  const groups = (part: string | undefined) => (part ? part.split(':').map((group) => Number.parseInt(group, 16)) : []);
  const [head, tail] = text.split('::');
  const left = groups(head);
  const right = groups(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
};

const embeddedV4 = (high: number, low: number): number => ((high << 16) | low) >>> 0;

/**
 * Whether an address is globally reachable unicast. IPv6 counts only inside 2000::/3 (global
 * unicast; this excludes ::, ::1, fc00::/7, fe80::/10, ff00::/8 and the rest at once) and outside its
 * special ranges; IPv4-mapped (::ffff:0:0/96), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses
 * are judged by the IPv4 address they carry. Anything that is not an IP address is not public.
 */
export const isPublicAddress = (ip: string): boolean => {
  const family = isIP(ip);
  if (family === 4) return isPublicV4(ipv4Number(ip));
  if (family !== 6) return false;
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = ipv6Groups(ip);
  const zeroMiddle = g2 === 0 && g3 === 0 && g4 === 0;
  if (g0 === 0 && g1 === 0 && zeroMiddle && g5 === 0xffff) return isPublicV4(embeddedV4(g6, g7));
  if (g0 === 0x64 && g1 === 0xff9b && zeroMiddle && g5 === 0) return isPublicV4(embeddedV4(g6, g7));
  if ((g0 & 0xe000) !== 0x2000) return false;
  if (g0 === 0x2001 && (g1 < 0x200 || g1 === 0xdb8)) return false; // IETF assignments (Teredo...), documentation
  if (g0 === 0x3fff && g1 < 0x1000) return false; // documentation (RFC 9637)
  if (g0 === 0x2002) return isPublicV4(embeddedV4(g1, g2));
  return true;
};

// ---------------------------------------------------------------------------------------------------
// The rules

export type Resolver = (hostname: string) => Promise<string[]>;

const resolveHost: Resolver = async (hostname) =>
  (await dnsLookup(hostname, { all: true })).map((entry) => entry.address);

/** A URL that passed the checks that need no DNS. */
interface Target {
  url: URL;
  /** As compared with FENIX_DOWNLOAD_ALLOW: URL.hostname (IPv6 in brackets) and the effective port. */
  hostPort: string;
  /** The hostname without brackets: what is resolved or connected to. */
  bare: string;
  port: number;
  /** Listed in FENIX_DOWNLOAD_ALLOW: any scheme of the two, any address. */
  allowed: boolean;
}

const allowHint = (hostPort: string) => ` (allow it with FENIX_DOWNLOAD_ALLOW=${hostPort})`;

/** The target of a URL, or why it cannot be one. */
const inspect = (text: string, allow: readonly string[]): Target | string => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'not a valid URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return `only http and https URLs are allowed, not ${url.protocol.slice(0, -1)}`;
  if (url.username || url.password) return 'a URL must not carry a user name or password';
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const hostPort = `${url.hostname}:${port}`;
  const bare = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const allowed = allow.includes(hostPort);
  if (!allowed && url.protocol === 'http:')
    return `plain http is allowed only for hosts in FENIX_DOWNLOAD_ALLOW${allowHint(hostPort)}`;
  if (!allowed && isIP(bare) && !isPublicAddress(bare)) return `${bare} is not a public address${allowHint(hostPort)}`;
  return { url, hostPort, bare, port, allowed };
};

/** Why a name's addresses are refused (every one must be public unless its host:port is allowed). */
const addressProblem = (target: Target, addresses: string[]): string | undefined => {
  if (target.allowed) return undefined;
  if (addresses.length === 0) return `${target.bare} resolves to no address`;
  const refused = addresses.filter((address) => !isPublicAddress(address));
  if (refused.length === 0) return undefined;
  return `${target.bare} resolves to ${refused.join(', ')}, not a public address${allowHint(target.hostPort)}`;
};

const reason = (error: unknown): string =>
  (error as NodeJS.ErrnoException | undefined)?.code ?? (error instanceof Error ? error.message : String(error));

/**
 * The create-time check (400 on the first URL that cannot be allowed, by index). Names not in the
 * allow list are resolved and every address must be public; a name that does not resolve is refused.
 */
export const checkDownloadUrls = async (
  entries: DownloadEntry[],
  allow: readonly string[],
  resolve: Resolver = resolveHost,
): Promise<void> => {
  const problems = await Promise.all(
    entries.map(async (entry): Promise<string | undefined> => {
      const target = inspect(entry.url, allow);
      if (typeof target === 'string') return target;
      if (target.allowed || isIP(target.bare)) return undefined;
      let addresses: string[];
      try {
        addresses = await resolve(target.bare);
      } catch (error) {
        return `cannot resolve ${target.bare} (${reason(error)})`;
      }
      return addressProblem(target, addresses);
    }),
  );
  const index = problems.findIndex((problem) => problem !== undefined);
  if (index >= 0) throw new ValidationError(`download.${index}.url: ${problems[index]}`);
};

// ---------------------------------------------------------------------------------------------------
// The fetch

/** A download that cannot succeed; its message is the cause, for the record's `error`. */
class DownloadProblem extends Error {}

/**
 * The `lookup` of each request: resolves with the injected resolver and refuses a disallowed address
 * at connect time. Node 20 calls it with `{ all: true }` when it races address families
 * (autoSelectFamily) and expects a list then, a single address otherwise.
 */
const guardedLookup =
  (target: Target, resolve: Resolver): LookupFunction =>
  (hostname, options, callback) => {
    resolve(hostname).then(
      (addresses) => {
        const problem = addressProblem(target, addresses);
        if (problem) return callback(new DownloadProblem(`not allowed: ${problem}`), '');
        const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
        const usable =
          family === 4 || family === 6 ? addresses.filter((address) => isIP(address) === family) : addresses;
        const [first] = usable;
        if (first === undefined) return callback(new DownloadProblem(`${hostname} has no IPv${family} address`), '');
        if (options.all)
          return callback(
            null,
            usable.map((address) => ({ address, family: isIP(address) })),
          );
        return callback(null, first, isIP(first));
      },
      (error: unknown) => callback(new DownloadProblem(`cannot resolve ${hostname} (${reason(error)})`), ''),
    );
  };

/** One GET; resolves with the response (any status). The timeout covers connecting and every pause in the body. */
const get = (target: Target, resolve: Resolver, timeoutMs: number): Promise<IncomingMessage> =>
  new Promise((resolvePromise, reject) => {
    const send = target.url.protocol === 'https:' ? httpsRequest : httpRequest;
    const request = send({
      hostname: target.bare,
      port: target.port,
      path: `${target.url.pathname}${target.url.search}`,
      method: 'GET',
      headers: { 'accept-encoding': 'identity', 'user-agent': 'fenix-download' },
      // A fresh connection each time: a pooled socket would skip the connect-time check.
      agent: false,
      lookup: guardedLookup(target, resolve),
      timeout: timeoutMs,
    });
    let response: IncomingMessage | undefined;
    request.on('timeout', () => {
      const problem = new DownloadProblem(`no data for ${timeoutMs} ms (timed out)`);
      if (response) response.destroy(problem);
      else request.destroy(problem);
    });
    request.on('error', reject);
    request.on('response', (incoming) => {
      response = incoming;
      resolvePromise(incoming);
    });
    request.end();
  });

/** Follows up to 5 redirects, each checked like the first URL; answers the 2xx response. */
const open = async (
  first: string,
  allow: readonly string[],
  resolve: Resolver,
  timeoutMs: number,
): Promise<IncomingMessage> => {
  let current = first;
  for (let hop = 0; ; hop++) {
    const via = hop === 0 ? '' : `redirected to ${current}: `;
    const target = inspect(current, allow);
    if (typeof target === 'string') throw new DownloadProblem(`${via}not allowed: ${target}`);
    let response: IncomingMessage;
    try {
      response = await get(target, resolve, timeoutMs);
    } catch (error) {
      throw new DownloadProblem(`${via}${error instanceof Error ? error.message : String(error)}`);
    }
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (REDIRECT_STATUSES.has(status) && location) {
      response.destroy();
      if (hop >= MAX_REDIRECTS) throw new DownloadProblem(`more than ${MAX_REDIRECTS} redirects`);
      if (!URL.canParse(location, target.url.href))
        throw new DownloadProblem(`${via}redirected to an invalid Location`);
      current = new URL(location, target.url).href;
      continue;
    }
    if (status < 200 || status > 299) {
      response.destroy();
      throw new DownloadProblem(`${via}HTTP ${status}${response.statusMessage ? ` ${response.statusMessage}` : ''}`);
    }
    return response;
  }
};

/** Counts and hashes what passes; fails as soon as the size cap is crossed or the body ends short. */
class Meter extends Transform {
  size = 0;
  private readonly hash = createHash('sha256');

  constructor(
    private readonly maxBytes: number,
    private readonly expected: number | undefined,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      done(new DownloadProblem(tooLarge(this.maxBytes)));
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const short = this.expected !== undefined && this.size !== this.expected;
    done(short ? new DownloadProblem(`the body ended after ${this.size} of ${this.expected} bytes`) : null);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

const tooLarge = (maxBytes: number) => `larger than the ${maxBytes}-byte limit (FENIX_DOWNLOAD_MAX_BYTES)`;

/**
 * Fetches one entry into the store, streaming, hashing and counting on the way. Every download
 * problem (refused address, HTTP status, size, checksum, timeout, broken connection) is a FAILED
 * record; only a failure of the ArtifactStore itself is thrown (so the step can be retried).
 */
export const fetchDownload = async (
  sessionId: string,
  entry: DownloadEntry,
  artifacts: ArtifactStore,
  options: { allow: readonly string[]; maxBytes: number; timeoutMs?: number; resolve?: Resolver },
): Promise<DownloadRecord> => {
  const { allow, maxBytes, timeoutMs = 30_000, resolve = resolveHost } = options;
  const failed = (cause: string, size = 0): DownloadRecord => ({
    url: entry.url,
    name: entry.name,
    sha256: null,
    size,
    status: 'FAILED',
    location: null,
    error: `${entry.url}: ${cause}`,
  });

  let response: IncomingMessage;
  try {
    response = await open(entry.url, allow, resolve, timeoutMs);
  } catch (error) {
    return failed(error instanceof Error ? error.message : String(error));
  }
  const declared = Number(response.headers['content-length'] ?? Number.NaN);
  const expected = Number.isSafeInteger(declared) ? declared : undefined;
  if (expected !== undefined && expected > maxBytes) {
    response.destroy();
    return failed(`Content-Length ${expected} is ${tooLarge(maxBytes)}`);
  }

  const meter = new Meter(maxBytes, expected);
  let problem: DownloadProblem | undefined;
  meter.on('error', (error) => {
    if (error instanceof DownloadProblem) problem ??= error;
  });
  // Whatever breaks the body reaches the store as a DownloadProblem; whatever stops the store stops the body.
  response.on('error', (error) =>
    meter.destroy(
      error instanceof DownloadProblem
        ? error
        : new DownloadProblem(`the connection broke after ${meter.size} bytes (${error.message})`),
    ),
  );
  meter.on('close', () => response.destroy());
  response.pipe(meter);

  let location: string;
  try {
    location = await artifacts.write(sessionId, entry.name, meter);
  } catch (error) {
    meter.destroy(); // a store that failed before reading must not leave the connection waiting for the timeout
    const cause = problem ?? (error instanceof DownloadProblem ? error : undefined);
    if (cause) return failed(cause.message, meter.size);
    throw error;
  }
  const sha256 = meter.digest();
  if (entry.sha256 && entry.sha256 !== sha256)
    return failed(`sha256 is ${sha256}, expected ${entry.sha256}`, meter.size);
  return { url: entry.url, name: entry.name, sha256, size: meter.size, status: 'DONE', location };
};
