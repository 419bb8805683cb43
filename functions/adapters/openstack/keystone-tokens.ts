import { createHash } from 'node:crypto';
import * as z from 'zod';
import { UnauthorizedError } from '../../core/errors.js';
import type { Identity } from '../../shared/auth.js';

/**
 * Keystone tokens as Fenix accepted them (DESIGN §13, "Keystone identity"): the caller sends
 * `X-Auth-Token: <token>`, and Keystone says whose it is. Validation is `GET /v3/auth/tokens` with
 * the token in both `X-Auth-Token` and `X-Subject-Token`: Keystone's default policy lets a token
 * validate itself (`rule:token_subject`), so no service credentials are needed.
 *
 * The answer becomes an Identity: subject = the user id, admin = the token carries the role `admin`
 * (compared without case, as oslo.policy's `role:admin` does), project = the Keystone project id of
 * a project-scoped token (an unscoped, domain- or system-scoped token speaks for no project).
 *
 * A token Keystone does not know (404, or 401: expired, revoked, never issued) is refused with
 * InvalidTokenError (401). When Keystone cannot say (unreachable, too slow, 5xx, an answer that is
 * not a token) the call fails with KeystoneUnavailableError (503): never taken as valid.
 */

/** Keystone says the token is not valid: 401 to the caller, with the reason. */
export class InvalidTokenError extends UnauthorizedError {}

/** Keystone could not tell whether the token is valid: the caller gets a 503, never access. */
export class KeystoneUnavailableError extends Error {
  readonly statusCode = 503;
  readonly code = 'keystone_unavailable';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

export interface KeystoneTokensOptions {
  /**
   * Keystone's identity endpoint, e.g. `http://127.0.0.1:5000/v3` (clouds.yaml `auth_url`); a URL
   * without the `/v3` gets it appended.
   */
  url: string;
  /** How long one validation may take. @default 4000 ms (an HTTP API authorizer has 10 s). */
  timeoutMs?: number;
  /** Longest a valid token is trusted without asking again. @default 300 s (and never past its expiry) */
  maxCacheSeconds?: number;
  /** How long a refused token stays refused without asking again. @default 5 s */
  negativeCacheSeconds?: number;
  /** Cache entries kept; the oldest go first. @default 1000 */
  maxEntries?: number;
  /** The clock, in ms (tests move it). @default Date.now */
  now?: () => number;
}

/** The part of Keystone's token answer the mapping reads (the rest is ignored). */
const tokenAnswer = z.object({
  token: z.object({
    expires_at: z.string().refine((value) => !Number.isNaN(Date.parse(value)), 'not a timestamp'),
    user: z.object({ id: z.string().min(1) }),
    // Unscoped tokens carry no roles.
    roles: z.array(z.object({ name: z.string() })).optional(),
    project: z.object({ id: z.string().min(1) }).optional(),
  }),
});

/** Fernet tokens are about 200 characters; anything far longer, or not one visible ASCII word, is not a token. */
const TOKEN = /^[\x21-\x7e]{1,8192}$/;

/** The Identity a Keystone token answer describes, and until when (epoch ms) the token is valid. */
export const identityFromKeystone = (answer: unknown): { identity: Identity; expiresAt: number } => {
  const parsed = tokenAnswer.safeParse(answer);
  if (!parsed.success) {
    const where = parsed.error.issues.map((issue) => issue.path.join('.') || '(body)').join(', ');
    throw new KeystoneUnavailableError(`Keystone's answer is not a token (${where})`);
  }
  const { token } = parsed.data;
  return {
    identity: {
      subject: token.user.id,
      admin: (token.roles ?? []).some((role) => role.name.toLowerCase() === 'admin'),
      ...(token.project ? { project: token.project.id } : {}),
    },
    expiresAt: Date.parse(token.expires_at),
  };
};

/** `…/v3` without a trailing slash, whether the URL named the version or not. */
export const identityEndpoint = (url: string): string => {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`the Keystone URL "${url}" is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new Error(`the Keystone URL "${url}" must be http:// or https://`);
  const base = `${parsed.origin}${parsed.pathname}`.replace(/\/+$/, '');
  return base.endsWith('/v3') ? base : `${base}/v3`;
};

type Entry = { until: number } & ({ identity: Identity } | { refused: string });

/**
 * Validates tokens against one Keystone, with a small cache: keyed by the token's SHA-256 (the
 * token itself is never kept), a valid token until min(its expiry, now + 5 min), a refused one for
 * a few seconds, bounded in size (the oldest entry goes first). Concurrent checks of one token
 * share one request. Keystone being unavailable is never cached.
 */
export class KeystoneTokens {
  readonly endpoint: string;
  private readonly timeoutMs: number;
  private readonly maxCacheMs: number;
  private readonly negativeCacheMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<Identity>>();

  constructor(options: KeystoneTokensOptions) {
    this.endpoint = identityEndpoint(options.url);
    this.timeoutMs = options.timeoutMs ?? 4000;
    this.maxCacheMs = (options.maxCacheSeconds ?? 300) * 1000;
    this.negativeCacheMs = (options.negativeCacheSeconds ?? 5) * 1000;
    this.maxEntries = Math.max(1, options.maxEntries ?? 1000);
    this.now = options.now ?? Date.now;
  }

  /** The identity the token stands for; InvalidTokenError or KeystoneUnavailableError otherwise. */
  async validate(token: string): Promise<Identity> {
    if (!TOKEN.test(token)) throw new InvalidTokenError('malformed token');
    const key = createHash('sha256').update(token).digest('hex');
    const cached = this.cache.get(key);
    if (cached && cached.until > this.now()) {
      if ('refused' in cached) throw new InvalidTokenError(cached.refused);
      return cached.identity;
    }
    if (cached) this.cache.delete(key);
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const check = this.ask(key, token).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, check);
    return check;
  }

  /** Entries currently cached (for tests and metrics). */
  get size(): number {
    return this.cache.size;
  }

  private async ask(key: string, token: string): Promise<Identity> {
    let response: Response;
    try {
      response = await fetch(`${this.endpoint}/auth/tokens?nocatalog`, {
        headers: { accept: 'application/json', 'x-auth-token': token, 'x-subject-token': token },
        redirect: 'error',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new KeystoneUnavailableError(unreachable(error, this.timeoutMs), { cause: error });
    }
    if (response.status === 401 || response.status === 404) {
      await response.body?.cancel();
      return this.refuse(key, 'Keystone does not know this token (expired, revoked or never issued)');
    }
    if (response.status !== 200 && response.status !== 203) {
      await response.body?.cancel();
      throw new KeystoneUnavailableError(`Keystone answered ${response.status} to the token validation`);
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch (error) {
      throw new KeystoneUnavailableError("Keystone's answer is not JSON", { cause: error });
    }
    const { identity, expiresAt } = identityFromKeystone(body);
    const now = this.now();
    if (expiresAt <= now) return this.refuse(key, 'the token has expired');
    this.remember(key, { identity, until: Math.min(expiresAt, now + this.maxCacheMs) });
    return identity;
  }

  private refuse(key: string, reason: string): never {
    this.remember(key, { refused: reason, until: this.now() + this.negativeCacheMs });
    throw new InvalidTokenError(reason);
  }

  private remember(key: string, entry: Entry): void {
    this.cache.delete(key);
    this.cache.set(key, entry);
    // A Map iterates in insertion order: the first key is the oldest entry.
    for (const oldest of this.cache.keys()) {
      if (this.cache.size <= this.maxEntries) break;
      this.cache.delete(oldest);
    }
  }
}

/** Why fetch failed, in words that name Keystone (never the token). */
const unreachable = (error: unknown, timeoutMs: number): string => {
  const name = (error as Error | undefined)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return `Keystone did not answer within ${timeoutMs} ms`;
  const cause = (error as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  return `Keystone is unreachable (${cause?.code ?? cause?.message ?? (error as Error | undefined)?.message ?? 'network error'})`;
};
