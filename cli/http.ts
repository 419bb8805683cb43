import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalKeys } from '../local/jwt.js';

/**
 * The CLI's side of HTTP: where the API is, which token to send, and turning every failure into
 * one sentence. `ApiError` carries the API's `{error, message}`; `UnreachableError` a network failure.
 */

export const DEFAULT_URL = 'http://127.0.0.1:12347';
const TIMEOUT_MS = 30_000;

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    readonly apiMessage: string,
    readonly body: unknown,
    hint?: string,
  ) {
    super(`${status}${code ? ` ${code}` : ''}: ${apiMessage}${hint ? ` (${hint})` : ''}`);
  }
}

export class UnreachableError extends Error {
  override readonly name = 'UnreachableError';
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`cannot reach ${url}: ${reason}`);
  }
}

/** Who a request speaks for, when the CLI mints its own token. */
export type Role = { admin: true } | { project: string };

export interface Auth {
  /** Bearer token for a role; undefined when there is none to send. */
  tokenFor(role: Role): Promise<string | undefined>;
  /** Where a token came from, for the hint of a 401. */
  source: 'flag' | 'env' | 'local' | 'none';
  dataDir?: string;
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** The repository root, where `npm start` runs and resolves a relative FENIX_DATA_DIR. */
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The local runtime's data dir: FENIX_DATA_DIR (default .fenix-data), relative to the repository root like `npm start`. */
export const dataDirOf = (env: Record<string, string | undefined>): string =>
  resolve(REPO_ROOT, env.FENIX_DATA_DIR || '.fenix-data');

export const isLocalUrl = (url: URL): boolean => LOCAL_HOSTS.has(url.hostname);

/**
 * Token resolution: `--token`, else `FENIX_TOKEN`, else — for a local URL — tokens minted with the
 * local runtime's keys under `FENIX_DATA_DIR` (default `.fenix-data`), so the CLI just works against
 * `npm start`: admin tokens, or the project's own for project commands. Keys are never created
 * here: a runtime that has not started has none, and a fresh pair would only earn 401s.
 */
export const resolveAuth = (url: URL, flagToken: string | undefined, env: Record<string, string | undefined>): Auth => {
  const fixed = flagToken ?? env.FENIX_TOKEN;
  if (fixed) return { tokenFor: async () => fixed, source: flagToken ? 'flag' : 'env' };
  const dataDir = dataDirOf(env);
  if (!isLocalUrl(url) || !existsSync(join(dataDir, 'auth', 'jwt-private.pem')))
    return { tokenFor: async () => undefined, source: 'none', dataDir };
  const keys = LocalKeys.load(dataDir);
  const minted = new Map<string, Promise<string>>();
  return {
    tokenFor: (role) => {
      const key = 'admin' in role ? 'admin' : `project:${role.project}`;
      const token =
        minted.get(key) ??
        ('admin' in role ? keys.issue({ admin: true, subject: 'fenix-cli' }) : keys.issue({ project: role.project }));
      minted.set(key, token);
      return token;
    },
    source: 'local',
    dataDir,
  };
};

export const parseBaseUrl = (text: string): URL | undefined => {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
};

/** Node's fetch hides the reason in `cause`; this names it in words. */
const networkReason = (error: unknown): string => {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError'))
    return `no answer within ${TIMEOUT_MS / 1000} s`;
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  const code = cause?.code ?? (error as { code?: string })?.code;
  const known: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed',
    ECONNRESET: 'connection reset',
    ETIMEDOUT: 'connection timed out',
    UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
    UND_ERR_SOCKET: 'connection closed',
    EHOSTUNREACH: 'host unreachable',
    CERT_HAS_EXPIRED: 'TLS certificate expired',
    DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed TLS certificate',
  };
  if (code && known[code]) return known[code];
  return cause?.message ?? (error instanceof Error ? error.message : String(error));
};

export interface RequestOptions {
  body?: unknown;
  /** Who the request speaks for when the CLI mints tokens (default admin). */
  role?: Role;
  headers?: Record<string, string>;
  query?: Record<string, string | number | undefined>;
}

export class Api {
  readonly baseUrl: string;

  constructor(
    url: URL,
    private readonly auth: Auth,
  ) {
    this.baseUrl = url.href.replace(/\/+$/, '');
  }

  /** One request; resolves with the parsed JSON body of a 2xx, throws ApiError / UnreachableError. */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const query = Object.entries(options.query ?? {}).filter(([, value]) => value !== undefined);
    const url = `${this.baseUrl}${path}${query.length ? `?${new URLSearchParams(query.map(([k, v]): [string, string] => [k, String(v)])).toString()}` : ''}`;
    const token = await this.auth.tokenFor(options.role ?? { admin: true });
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (token) headers.authorization = `Bearer ${token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      text = await response.text();
    } catch (error) {
      throw new UnreachableError(this.baseUrl, networkReason(error));
    }
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    if (response.ok) return body as T;
    const { error, message } = (typeof body === 'object' && body !== null ? body : {}) as {
      error?: unknown;
      message?: unknown;
    };
    const apiMessage =
      typeof message === 'string'
        ? message
        : typeof body === 'string' && body.trim()
          ? body.trim().slice(0, 200)
          : response.statusText || 'no message';
    throw new ApiError(
      response.status,
      typeof error === 'string' ? error : undefined,
      apiMessage,
      body,
      response.status === 401 ? this.unauthorizedHint(Boolean(token)) : undefined,
    );
  }

  private unauthorizedHint(sent: boolean): string {
    if (!sent)
      return `no token: set FENIX_TOKEN or pass --token${this.auth.dataDir ? `; for the local runtime, set FENIX_DATA_DIR to its data dir (no keys in ${this.auth.dataDir})` : ''}`;
    if (this.auth.source === 'local')
      return `the token was minted with the keys in ${this.auth.dataDir}: is the server using that FENIX_DATA_DIR?`;
    return `check the token given by ${this.auth.source === 'flag' ? '--token' : 'FENIX_TOKEN'} (expired? another issuer?)`;
  }
}
